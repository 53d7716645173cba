"""`npuport profile` inside the training process: the drivers ask ``from_env()`` for a profiler.

The command sets ``NPUPORT_PROFILE`` to the report file to write (rank 0), ``NPUPORT_PROFILE_WARMUP``
to the warm-up iterations and, for ``--compile``, ``NPUPORT_PROFILE_COMPILE`` to a torch.compile
backend. mmcv runners get a hook that begins the step before any other hook, and the step ends right
after the optimizer hook (backward and optimizer step), before checkpoints and logging (``attach``).
A plain loop brackets its step with ``begin()`` / ``end()``.
"""
from __future__ import annotations

import os
from typing import Any, Optional

PROFILE_ENV = "NPUPORT_PROFILE"
WARMUP_ENV = "NPUPORT_PROFILE_WARMUP"
COMPILE_ENV = "NPUPORT_PROFILE_COMPILE"
FIRST, LAST = 0, 100  # mmcv hook priorities: before every other hook, after every other hook


class Profiler:
    """A census of the eager step, or (compile mode) the graph breaks and recompiles of a compiled one."""

    def __init__(self, path: str, warmup: int, backend: Optional[str] = None) -> None:
        from npuport import runtime

        self.path = path
        if backend:
            from npuport.runtime.compile_watch import CompileWatch

            self.watch: Any = CompileWatch(warmup, backend)
        else:
            from npuport.runtime.census import Census

            self.watch = Census(warmup, runtime.device_type())
        self.compiling = bool(backend)

    def begin(self) -> None:
        self.watch.begin()

    def end(self) -> None:
        self.watch.end()

    def compile_forward(self, module: Any) -> None:
        """Compile the model's training forward (``forward_train`` of an mmdet detector, else ``forward``)."""
        if not self.compiling:
            return
        name = "forward_train" if hasattr(module, "forward_train") else "forward"
        setattr(module, name, self.watch.wrap(getattr(module, name)))

    def write(self) -> None:
        from npuport.results.report import write_results

        if int(os.environ.get("RANK", "0") or 0) == 0:
            kind = "compile" if self.compiling else "census"
            write_results(self.path, {"kind": kind, **self.watch.report()})


def from_env() -> Optional[Profiler]:
    path = os.environ.get(PROFILE_ENV, "").strip()
    if not path:
        return None
    warmup = int(os.environ.get(WARMUP_ENV, "3") or 3)
    return Profiler(path, warmup, os.environ.get(COMPILE_ENV, "").strip() or None)


def attach(runner: Any) -> Optional[Profiler]:
    """Profile an mmcv runner's training iterations when the environment asks for it."""
    profiler = from_env()
    if profiler is None:
        return None
    from mmcv.runner import Hook

    class _Begin(Hook):
        def before_train_iter(self, runner: Any) -> None:
            profiler.begin()

    class _End(Hook):
        def after_train_iter(self, runner: Any) -> None:
            if not ends_with_optimizer:
                profiler.end()

        def after_run(self, runner: Any) -> None:
            profiler.end()
            profiler.write()

    model = getattr(runner.model, "module", runner.model)
    profiler.compile_forward(model)
    runner.register_hook(_Begin(), priority=FIRST)
    runner.register_hook(_End(), priority=LAST)
    ends_with_optimizer = _end_after_optimizer(runner, profiler)
    return profiler


def _end_after_optimizer(runner: Any, profiler: Profiler) -> bool:
    """End the step right after the optimizer hook's after_train_iter (backward and step), before checkpoints
    and logging, whatever priority this mmcv version gives it; False when the runner has no optimizer hook."""
    hooks = [h for h in getattr(runner, "_hooks", []) if "OptimizerHook" in type(h).__name__]
    if not hooks:
        return False
    hook = hooks[-1]
    step = hook.after_train_iter

    def after_train_iter(runner: Any) -> None:
        step(runner)
        profiler.end()

    hook.after_train_iter = after_train_iter
    return True
