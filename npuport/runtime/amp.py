"""torch.cuda.amp's autocast and GradScaler, same signatures and defaults, on the runtime's device.

NPU405 rewrites `torch.cuda.amp.X` and `from torch.cuda.amp import X` to this module. On npu they are
torch_npu's torch.npu.amp twins; on cuda torch.autocast('cuda') / torch.amp.GradScaler('cuda'); on cpu they
are disabled, as torch.cuda.amp is on a machine without CUDA (it warns and runs in float32).
"""
from __future__ import annotations

from typing import Any

from npuport import runtime

__all__ = ["autocast", "GradScaler", "custom_fwd", "custom_bwd"]


def autocast(enabled: bool = True, dtype: Any = None, cache_enabled: bool = True) -> Any:
    """torch.cuda.amp.autocast(enabled, dtype=float16, cache_enabled) on the runtime's device."""
    torch = runtime._torch()
    kind = runtime.device_type()
    dtype = torch.float16 if dtype is None else dtype
    if kind == "npu":
        return torch.npu.amp.autocast(enabled=enabled, dtype=dtype, cache_enabled=cache_enabled)
    return torch.autocast(device_type=kind, dtype=torch.bfloat16 if kind == "cpu" else dtype,
                          enabled=enabled and kind != "cpu", cache_enabled=cache_enabled)


def GradScaler(init_scale: float = 2.0**16, growth_factor: float = 2.0, backoff_factor: float = 0.5,  # noqa: N802
               growth_interval: int = 2000, enabled: bool = True) -> Any:
    """torch.cuda.amp.GradScaler(...) with the same defaults, on the runtime's device (disabled on cpu)."""
    torch = runtime._torch()
    kind = runtime.device_type()
    args = dict(init_scale=init_scale, growth_factor=growth_factor, backoff_factor=backoff_factor,
                growth_interval=growth_interval)
    if kind == "npu":
        return torch.npu.amp.GradScaler(enabled=enabled, **args)
    return torch.amp.GradScaler(kind, enabled=enabled and kind != "cpu", **args)


def custom_fwd(fwd: Any = None, *, cast_inputs: Any = None) -> Any:
    """torch.cuda.amp.custom_fwd on the runtime's device type."""
    torch = runtime._torch()
    if fwd is None:
        return torch.amp.custom_fwd(device_type=runtime.device_type(), cast_inputs=cast_inputs)
    return torch.amp.custom_fwd(fwd, device_type=runtime.device_type(), cast_inputs=cast_inputs)


def custom_bwd(bwd: Any = None) -> Any:
    """torch.cuda.amp.custom_bwd on the runtime's device type."""
    torch = runtime._torch()
    if bwd is None:
        return torch.amp.custom_bwd(device_type=runtime.device_type())
    return torch.amp.custom_bwd(bwd, device_type=runtime.device_type())
