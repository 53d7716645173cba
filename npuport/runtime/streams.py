"""torch.cuda's stream API on the chosen device type: what NPU102 writes for torch.cuda.current_stream(),
torch.cuda.stream(s) and torch.cuda.Stream(...).

torch.npu has the same three names; on cpu, torch.cpu's stand-ins (torch >= 2.1: a stream object whose
wait_stream / synchronize do nothing, and a `stream(s)` context) keep stream-juggling copy code running.
"""

from __future__ import annotations

from typing import Any

from npuport.runtime import _backend, _torch


def _module() -> Any:
    backend = _backend()
    return _torch().cpu if backend is None else backend


def current_stream(device: Any = None) -> Any:
    """The current stream of a device (default: the current one)."""
    return _module().current_stream(device)


def stream(s: Any) -> Any:
    """`with torch.cuda.stream(s):` on the chosen device type (a no-op context for None, as torch's)."""
    return _module().stream(s)


def Stream(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - torch.cuda.Stream's name
    """A new stream (on cpu torch.cpu's stand-in, which takes no device)."""
    backend = _backend()
    return _torch().cpu.Stream() if backend is None else backend.Stream(*args, **kwargs)
