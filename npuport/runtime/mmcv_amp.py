"""Native AMP (autocast + GradScaler) for mmcv 1.x runners, on npu, cuda and cpu.

``enable(runner, model)`` makes a run use AMP level O1:

- ``runner.npuport_scaler`` is a GradScaler (init scale 128 by default); npuport's rewriter
  makes mmcv's ``OptimizerHook`` scale, unscale and step through it when it is set;
- the train_step of the wrapped module runs under ``npuport.runtime.autocast()``.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from npuport import runtime

LEVELS = ("off", "O1")
DEFAULT_LOSS_SCALE = 128.0


def _inner(model: Any) -> Any:
    return getattr(model, "module", model)


def autocast_method(method: Callable[..., Any], dtype: Any = None) -> Callable[..., Any]:
    """`method` wrapped so that it runs under the device's autocast."""

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        with runtime.autocast(enabled=True, dtype=dtype):
            return method(*args, **kwargs)

    run.npuport_autocast = True  # type: ignore[attr-defined]
    return run


def enable(runner: Any, model: Any, loss_scale: float = DEFAULT_LOSS_SCALE, dtype: Any = None) -> Any:
    """Turn on O1 for `runner` training `model` (a module or its mmcv wrapper); return the scaler."""
    inner = _inner(model)
    if not getattr(inner.train_step, "npuport_autocast", False):
        inner.train_step = autocast_method(inner.train_step, dtype)
    scaler = runtime.GradScaler(init_scale=loss_scale)
    runner.npuport_scaler = scaler
    return scaler
