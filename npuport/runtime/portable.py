"""What the portable ops share: the error for an op npuport does not provide, and the NPU dispatch test."""
from __future__ import annotations

from typing import Any, Callable

import torch

from npuport.errors import NpuportError


class MissingOpError(NpuportError):
    """A compiled mmcv op that npuport's portable op set does not provide."""


def missing(name: str) -> Callable[..., Any]:
    """A stand-in for op `name` that raises MissingOpError when called (never on import)."""
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise MissingOpError(
            f"mmcv op '{name}' is not compiled (mmcv installed with MMCV_WITH_OPS=0) and npuport.runtime.ops "
            f"has no portable version; build mmcv-full with its ops or add '{name}' to npuport/runtime/ops.py"
        )

    missing.__name__ = name
    missing.npuport_missing = True  # type: ignore[attr-defined]
    return missing


def is_npu(tensor: torch.Tensor) -> bool:
    return tensor.device.type == "npu"


def torch_npu_module() -> Any:
    """torch_npu, or MissingOpError when a tensor is on an NPU but torch_npu cannot be imported."""
    from npuport.runtime import torch_npu

    module = torch_npu()
    if module is None:
        raise MissingOpError("a tensor is on an NPU but torch_npu cannot be imported; install torch_npu and CANN")
    return module
