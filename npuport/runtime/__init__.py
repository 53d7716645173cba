"""The device layer that patched upstream code calls, so one tree runs on NPU, CUDA and CPU.

Importing this package is cheap: torch (and torch_npu, when installed) is imported lazily, on
the first call that needs it. The device is chosen once per process: ``NPUPORT_DEVICE``
(npu, cuda or cpu) when set, else npu when torch_npu and a device are present, else cuda
when available, else cpu.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType
from typing import Any, Optional

from npuport.errors import UsageError

DEVICE_TYPES = ("npu", "cuda", "cpu")
DIST_BACKENDS = {"npu": "hccl", "cuda": "nccl", "cpu": "gloo"}

_state: dict = {}


def _torch() -> ModuleType:
    import torch

    return torch


def torch_npu() -> Optional[ModuleType]:
    """Import torch_npu once if it is installed; None otherwise.

    torch_npu's device-backend autoload breaks ``import torch`` on a machine without CANN, so
    it is turned off (TORCH_DEVICE_BACKEND_AUTOLOAD=0) unless the user set it.
    """
    if "torch_npu" not in _state:
        os.environ.setdefault("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")
        module = None
        if importlib.util.find_spec("torch_npu") is not None:
            _torch()
            try:
                module = importlib.import_module("torch_npu")
            except Exception:  # a torch_npu without its driver stack is no NPU
                module = None
        _state["torch_npu"] = module
    return _state["torch_npu"]


def _detect() -> str:
    requested = os.environ.get("NPUPORT_DEVICE", "").strip().lower()
    if requested:
        if requested not in DEVICE_TYPES:
            raise UsageError(
                f"NPUPORT_DEVICE={requested!r} is not a device type; use one of {', '.join(DEVICE_TYPES)}"
            )
        return requested
    npu = torch_npu()
    torch = _torch()
    if npu is not None and hasattr(torch, "npu") and torch.npu.is_available():
        return "npu"
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def device_type() -> str:
    """'npu', 'cuda' or 'cpu', decided once per process (NPUPORT_DEVICE overrides)."""
    if "device_type" not in _state:
        kind = _detect()
        if kind == "npu" and torch_npu() is None:
            raise UsageError("NPUPORT_DEVICE=npu but torch_npu cannot be imported; install torch_npu and CANN")
        _state["device_type"] = kind
    return _state["device_type"]


def reset() -> None:
    """Forget the cached device choice (tests, or after changing NPUPORT_DEVICE)."""
    _state.pop("device_type", None)


def _backend() -> Any:
    kind = device_type()
    if kind == "cpu":
        return None
    torch = _torch()
    return torch.npu if kind == "npu" else torch.cuda


def is_available() -> bool:
    """True when an accelerator (npu or cuda) is in use."""
    return device_type() != "cpu"


def local_rank() -> int:
    """LOCAL_RANK from the launcher, 0 when not launched by torchrun."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def device(index: Any = None) -> Any:
    """The torch.device to run on; index defaults to LOCAL_RANK (ignored on cpu).

    `index` may also be what `.cuda(x)` accepts besides an int: a torch.device or a string such as 'cuda:1'
    ('cuda' without an index means the current device), so `.cuda(x)` -> `.to(device(x))` keeps its meaning.
    """
    torch = _torch()
    kind = device_type()
    if kind == "cpu":
        return torch.device("cpu")
    if isinstance(index, (str, torch.device)):
        index = torch.device(index).index
        return torch.device(kind, current_device() if index is None else index)
    return torch.device(kind, local_rank() if index is None else index)


def current() -> Any:
    """The current device of the chosen type, what a bare `.cuda()` means (after set_device, under mp.spawn
    too); cpu on cpu."""
    torch = _torch()
    kind = device_type()
    return torch.device("cpu") if kind == "cpu" else torch.device(kind, current_device())


def on_accelerator(tensor: Any) -> bool:
    """`tensor.is_cuda` for any accelerator: True when it lives on an npu or cuda device."""
    device = getattr(tensor, "device", None)
    if device is None:
        return bool(tensor.is_cuda)
    return getattr(device, "type", None) in ("npu", "cuda")


def device_count() -> int:
    """Number of devices of the chosen type (1 on cpu)."""
    backend = _backend()
    return 1 if backend is None else backend.device_count()


def current_device() -> int:
    """Index of the current device (0 on cpu)."""
    backend = _backend()
    return 0 if backend is None else backend.current_device()


def set_device(index: int) -> None:
    """Make `index` the current device (no-op on cpu)."""
    backend = _backend()
    if backend is not None:
        backend.set_device(index)


def synchronize() -> None:
    """Wait for the current device to finish its queued work (no-op on cpu)."""
    backend = _backend()
    if backend is not None:
        backend.synchronize()


def manual_seed_all(seed: int) -> None:
    """Seed torch on the host and on every device of the chosen type."""
    torch = _torch()
    torch.manual_seed(seed)
    backend = _backend()
    if backend is not None:
        backend.manual_seed_all(seed)


def max_memory_allocated(device: Any = None) -> int:
    """Peak bytes allocated on the device (0 on cpu): what mmcv's text logger prints as memory."""
    backend = _backend()
    return 0 if backend is None else backend.max_memory_allocated(device)


def memory_allocated(device: Any = None) -> int:
    """Bytes allocated on the device now (0 on cpu)."""
    backend = _backend()
    return 0 if backend is None else backend.memory_allocated(device)


def reset_peak_memory_stats(device: Any = None) -> None:
    """Restart the peak that max_memory_allocated reports (no-op on cpu)."""
    backend = _backend()
    if backend is not None:
        backend.reset_peak_memory_stats(device)


def empty_cache() -> None:
    """Give cached device memory back to the driver (no-op on cpu)."""
    backend = _backend()
    if backend is not None:
        backend.empty_cache()


def memory_reserved(device: Any = None) -> int:
    """Bytes the caching allocator holds on the device (0 on cpu)."""
    backend = _backend()
    return 0 if backend is None else backend.memory_reserved(device)


def max_memory_reserved(device: Any = None) -> int:
    """Peak bytes the caching allocator held on the device (0 on cpu)."""
    backend = _backend()
    return 0 if backend is None else backend.max_memory_reserved(device)


def reset_max_memory_allocated(device: Any = None) -> None:
    """Restart the peak of max_memory_allocated (no-op on cpu)."""
    backend = _backend()
    if backend is not None:
        backend.reset_max_memory_allocated(device)


def memory_stats(device: Any = None) -> dict:
    """The allocator's statistics for the device ({} on cpu)."""
    backend = _backend()
    return {} if backend is None else backend.memory_stats(device)


def get_device_name(device: Any = None) -> str:
    """The device's name ('cpu' on cpu)."""
    backend = _backend()
    return "cpu" if backend is None else backend.get_device_name(device)


def device_guard(index: Any) -> Any:
    """`with torch.cuda.device(i):` on the chosen device type: a context that makes `i` current (none on cpu)."""
    import contextlib

    backend = _backend()
    return contextlib.nullcontext() if backend is None else backend.device(index)


def legacy_tensor(type_name: str, *args: Any, **kwargs: Any) -> Any:
    """`torch.cuda.FloatTensor(...)` (sizes or data) on the current device: `torch.FloatTensor(...)` moved there."""
    torch = _torch()
    return getattr(torch, type_name)(*args, **kwargs).to(current())


def dist_backend() -> str:
    """torch.distributed backend for the device: hccl, nccl or gloo."""
    return DIST_BACKENDS[device_type()]


def autocast(enabled: bool = True, dtype: Any = None) -> Any:
    """Mixed-precision context on the chosen device (float16 on npu/cuda, bfloat16 on cpu)."""
    torch = _torch()
    kind = device_type()
    if dtype is None:
        dtype = torch.bfloat16 if kind == "cpu" else torch.float16
    if kind == "npu":
        return torch.npu.amp.autocast(enabled=enabled, dtype=dtype)
    return torch.autocast(device_type=kind, dtype=dtype, enabled=enabled)


def GradScaler(init_scale: float = 128.0, enabled: bool = True, **kwargs: Any) -> Any:  # noqa: N802
    """Loss scaler for the chosen device (torch.amp.GradScaler; torch_npu's on npu)."""
    torch = _torch()
    kind = device_type()
    if kind == "npu":
        return torch.npu.amp.GradScaler(init_scale=init_scale, enabled=enabled, **kwargs)
    return torch.amp.GradScaler(kind, init_scale=init_scale, enabled=enabled, **kwargs)


class Missing:
    """Stands for an optional module or name that could not be imported: falsy, and any use (an attribute,
    a call) raises ImportError naming it, rather than a puzzling error about None."""

    def __init__(self, name: str, error: BaseException) -> None:
        self._name, self._error = name, error

    def _fail(self, what: str) -> ImportError:
        return ImportError(f"{what} needs {self._name}, which could not be imported ({self._error}); "
                           f"install it to use this feature")

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise self._fail(f"{self._name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._fail(f"{self._name}()")

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<missing {self._name}: {self._error}>"


def missing(name: str, error: BaseException) -> Missing:
    """The stand-in for an optional import that failed (see Missing)."""
    return Missing(name, error)


def __getattr__(name: str) -> Any:
    # `npuport.runtime.ops` without importing torch at package import.
    if name in ("ops", "timing", "mmcv_amp", "amp", "streams"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
