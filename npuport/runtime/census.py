"""A dispatch-level census of training steps: what makes a step slow on an NPU, counted and located.

Every ATen op that runs inside a step (between ``begin()`` and ``end()``) is seen by a TorchDispatchMode and
counted per iteration as ``ops``, ``dynamic`` (data-dependent output shape), ``syncs`` (host reads),
``int64`` (pointwise and reduction ops with an int64 operand) and ``new_signatures`` ((op, shapes, dtypes,
integer arguments) not seen before: a kernel compile in the NPU's single-op mode). What each counts, and why the
NPU cares, is the table of docs/static.md. After the warm-up iterations each counted op is attributed to the
innermost Python frame outside torch (``mmdet/core/bbox/samplers/random_sampler.py:56``), ranked in ``sites``;
backward ops to the ``backward()`` call.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

from npuport.runtime import op_kinds
from npuport.runtime.op_kinds import OpKind, has_bool_index

CATEGORIES = ("dynamic", "syncs", "int64", "new_signatures")
HOST_READS = ("cpu", "numpy", "tolist")
TOP_SITES = 40


@dataclass
class Iteration:
    iter: int
    ops: int = 0
    dynamic: int = 0
    syncs: int = 0
    int64: int = 0
    new_signatures: int = 0
    seconds: float = 0.0

    def to_json(self) -> Dict[str, Any]:
        return {"iter": self.iter, "ops": self.ops, "dynamic": self.dynamic, "syncs": self.syncs,
                "int64": self.int64, "new_signatures": self.new_signatures, "seconds": round(self.seconds, 4)}


class Census:
    """Counts the ops of each step; ``begin()`` / ``end()`` bracket one training iteration."""

    def __init__(self, warmup: int = 3, device: str = "cpu") -> None:
        self.warmup = warmup
        self.device = device
        self.iterations: List[Iteration] = []
        self.sites: Dict[str, Counter] = {c: Counter() for c in CATEGORIES}
        self.op_counts: Dict[str, Counter] = {c: Counter() for c in CATEGORIES}
        self._seen: set = set()
        self._kinds: Dict[Any, OpKind] = {}
        self._paths: Dict[str, Optional[str]] = {}
        self._mode: Any = None
        self._current: Optional[Iteration] = None
        self._kernel_depth = 0
        self._last_read = 0
        self._saved: Dict[str, Any] = {}
        self._started = 0.0
        import torch

        self._torch = torch
        self._torch_dir = os.path.dirname(torch.__file__) + os.sep
        self._stdlib_dir = os.path.dirname(os.__file__) + os.sep
        self._roots = sorted({p for p in sys.path if p}, key=len, reverse=True)

    # -- the step bracket -------------------------------------------------------------------------
    def begin(self) -> None:
        if self._mode is not None:  # a step that did not end (an exception): close it first
            self.end()
        self._current = Iteration(len(self.iterations) + 1)
        self._mode = _make_mode(self)
        self._started = time.perf_counter()
        self._mode.__enter__()
        _active.append(self)
        self._patch_host_reads()

    def end(self) -> None:
        if self._mode is None:
            return
        self._restore_host_reads()
        self._mode.__exit__(None, None, None)
        self._mode = None
        if self in _active:
            _active.remove(self)
        assert self._current is not None
        self._current.seconds = time.perf_counter() - self._started
        self.iterations.append(self._current)
        self._current = None

    # -- one op -----------------------------------------------------------------------------------
    def observe(self, func: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any], out: Any) -> None:
        it = self._current
        if it is None:
            return
        it.ops += 1
        kind = self._kinds.get(func)
        if kind is None:
            kind = self._kinds[func] = op_kinds.kind(func)
        torch = self._torch
        flat = op_kinds.flat(args, kwargs)
        key: List[Any] = [func]
        int64 = False
        for value in flat:
            if isinstance(value, torch.Tensor):
                key.append((tuple(value.shape), value.dtype))
                int64 = int64 or value.dtype == torch.int64
            elif isinstance(value, (int, bool)) or value is None:
                key.append(value)
            else:
                key.append(type(value))
        dynamic = kind.dynamic and (not kind.bool_index or has_bool_index(args, torch))
        sync = kind.sync or (kind.copy and self._to_host(args, kwargs, out))
        self._tally(it, str(func), tuple(key), dynamic, sync, kind.arithmetic and int64)

    def observe_kernel(self, name: str, tensors: Tuple[Any, ...], dynamic: bool, caller: str) -> None:
        """One device kernel (see ``kernel``): one op, its signature the shapes and dtypes of `tensors`,
        its site the caller of the portable op (file `caller`)."""
        it = self._current
        if it is None:
            return
        it.ops += 1
        key = (name, *((tuple(t.shape), t.dtype) for t in tensors))
        self._tally(it, name, key, dynamic, False, False, caller)

    def _tally(self, it: Iteration, name: str, signature: Optional[Tuple[Any, ...]], dynamic: bool, sync: bool,
               int64: bool, also_skip: str = "") -> None:
        hits: List[str] = []
        if signature is not None and signature not in self._seen:
            self._seen.add(signature)
            it.new_signatures += 1
            hits.append("new_signatures")
        if dynamic:
            it.dynamic += 1
            hits.append("dynamic")
        if sync:
            it.syncs += 1
            hits.append("syncs")
        if int64:
            it.int64 += 1
            hits.append("int64")
        if hits and it.iter > self.warmup:
            site = self._site(also_skip)
            for category in hits:
                self.sites[category][f"{site} {name}"] += 1
                self.op_counts[category][name] += 1

    def _patch_host_reads(self) -> None:
        """On the CPU `.cpu()`, `.numpy()` and `.tolist()` dispatch nothing, yet on an accelerator each is a
        device-to-host copy that waits for the device: count them as syncs while a step runs."""
        if self.device != "cpu":
            return
        tensor = self._torch.Tensor
        self._saved = {name: getattr(tensor, name) for name in HOST_READS}
        for name, method in self._saved.items():
            setattr(tensor, name, _host_read(self, name, method))

    def _restore_host_reads(self) -> None:
        for name, method in getattr(self, "_saved", {}).items():
            setattr(self._torch.Tensor, name, method)
        self._saved = {}

    def observe_host_read(self, name: str) -> None:
        it = self._current
        if it is None or self._kernel_depth:
            return
        self._tally(it, f"Tensor.{name}", None, False, True, False)  # a host read has no kernel signature

    def _to_host(self, args: Tuple[Any, ...], kwargs: Dict[str, Any], out: Any) -> bool:
        torch = self._torch
        source = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if source is None or source.device.type == "cpu":
            return False
        target = out if isinstance(out, torch.Tensor) else (args[0] if len(args) > 0 else None)
        if len(args) > 1 and isinstance(args[1], torch.Tensor):  # copy_(dst, src)
            source, target = args[1], args[0]
            if source.device.type == "cpu":
                return False
        return isinstance(target, torch.Tensor) and target.device.type == "cpu"

    def _site(self, also_skip: str = "") -> str:
        """file:line of the innermost frame outside torch, the standard library, this module and `also_skip`."""
        frame = sys._getframe(1)
        while frame is not None:
            short = self._short(frame.f_code.co_filename)
            if short is not None and frame.f_code.co_filename != also_skip:
                return f"{short}:{frame.f_lineno}"
            frame = frame.f_back
        return "?"

    def _short(self, path: str) -> Optional[str]:
        """`path` relative to its sys.path root (as its import name reads), None for frames to skip."""
        if path in self._paths:
            return self._paths[path]
        skip = (path == __file__ or path.startswith(self._torch_dir) or path.startswith("<")
                or (path.startswith(self._stdlib_dir) and "-packages" + os.sep not in path))
        short = None
        if not skip:
            short = path
            for root in self._roots:
                if path.startswith(root + os.sep):
                    short = path[len(root) + 1:]
                    break
        self._paths[path] = short
        return short

    # -- the report -------------------------------------------------------------------------------
    def report(self) -> Dict[str, Any]:
        measured = [it for it in self.iterations if it.iter > self.warmup]
        n = len(measured)
        summary: Dict[str, Any] = {"iters": n}
        for name in ("ops", *CATEGORIES):
            values = [getattr(it, name) for it in measured]
            summary[name] = round(sum(values) / n, 2) if n else None
            summary[f"{name}_max"] = max(values) if values else None
        sites = {c: [{"site": s.rsplit(" ", 1)[0], "op": s.rsplit(" ", 1)[1], "per_iter": round(k / n, 2)}
                     for s, k in self.sites[c].most_common(TOP_SITES)] if n else [] for c in CATEGORIES}
        ops = {c: {op: round(k / n, 2) for op, k in self.op_counts[c].most_common()} if n else {} for c in CATEGORIES}
        return {"warmup": self.warmup, "device": self.device, "iterations": [it.to_json() for it in self.iterations],
                "measured": summary, "sites": sites, "ops": ops}


_active: List[Census] = []  # the census whose step is running, if any


@contextlib.contextmanager
def kernel(name: str, tensors: Tuple[Any, ...], dynamic: bool = False) -> Iterator[None]:
    """Count the body as the one device kernel it stands for.

    npuport's portable ops (npuport.runtime.ops) compute in many small ATen ops what the NPU runs as one
    kernel (``roi_align`` is ``torch_npu.npu_roi_align`` there): inside a census they are counted as that
    kernel, with the shapes of `tensors` as its signature, so the census shows what the NPU would see.
    `dynamic` marks a kernel whose output size depends on the data (NMS).
    """
    census = _active[-1] if _active else None
    if census is None or census._mode is None:
        yield
        return
    from torch.utils._python_dispatch import _disable_current_modes

    caller = sys._getframe(2).f_code.co_filename  # the portable op (above contextlib's __enter__)
    census._kernel_depth += 1
    try:
        with _disable_current_modes():
            yield
    finally:
        census._kernel_depth -= 1
    census.observe_kernel(name, tensors, dynamic, caller)


@contextlib.contextmanager
def host() -> Iterator[None]:
    """Count nothing in the body: it works on host tensors that the accelerator never sees.

    A static port may build small data-dependent bookkeeping (targets from the ground truth) on the host on
    purpose, from tensors it copied there (that copy is counted, as a sync). On a CPU run the census cannot
    tell those CPU tensors from the step's own, so the port marks the block.
    """
    census = _active[-1] if _active else None
    if census is None or census._mode is None:
        yield
        return
    from torch.utils._python_dispatch import _disable_current_modes

    census._kernel_depth += 1  # host reads inside are no syncs either
    try:
        with _disable_current_modes():
            yield
    finally:
        census._kernel_depth -= 1


def _host_read(census: Census, name: str, method: Any) -> Any:
    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        if id(self) != census._last_read:  # `x.cpu().numpy()` is one copy
            census.observe_host_read(name)
        out = method(self, *args, **kwargs)
        census._last_read = id(out)
        return out

    read.__name__ = name
    return read


def _make_mode(census: Census) -> Any:
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Mode(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if getattr(func, "namespace", None) != "npuport":  # npuport's custom ops count as their census.kernel
                census.observe(func, args, kwargs, out)
            return out

    return _Mode()
