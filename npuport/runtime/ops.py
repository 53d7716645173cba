"""Portable replacements for the compiled ops of mmcv (``mmcv._ext``).

mmcv-full built without its native ops (MMCV_WITH_OPS=0) has no ``mmcv._ext``; npuport's
patch to ``mmcv/utils/ext_loader.py`` then calls :func:`load_ext` here. The functions keep
the calling convention of the compiled ones (same names, same keyword arguments, outputs
written into the tensors passed in), so ``mmcv/ops/*.py`` runs unchanged.

Tensors on cpu or cuda use pure PyTorch; tensors on an Ascend NPU use torch_npu's kernels.
An op that is not provided raises :class:`MissingOpError` naming it when called, never on
import: importing ``mmcv.ops`` asks for every op of every module at once.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable, Dict, Iterable, List

from npuport.runtime.boxes import NMS_CHUNK, bbox_overlaps, greedy_nms, nms  # noqa: F401 (the public op set)
from npuport.runtime.portable import MissingOpError, missing
from npuport.runtime.roi_align import RoIAlignFunction, roi_align, roi_align_backward, roi_align_forward  # noqa: F401

__all__ = ["MissingOpError", "NMS_CHUNK", "PROVIDED", "RoIAlignFunction", "bbox_overlaps", "greedy_nms", "load_ext",
           "missing_ops", "nms", "roi_align", "roi_align_backward", "roi_align_forward"]


def get_compiler_version() -> str:
    return "npuport portable ops (no compiler)"


def get_compiling_cuda_version() -> str:
    return "not available"


PROVIDED: Dict[str, Callable[..., Any]] = {
    "nms": nms,
    "bbox_overlaps": bbox_overlaps,
    "roi_align_forward": roi_align_forward,
    "roi_align_backward": roi_align_backward,
    "get_compiler_version": get_compiler_version,
    "get_compiling_cuda_version": get_compiling_cuda_version,
}


def load_ext(name: str, funcs: Iterable[str]) -> SimpleNamespace:
    """Stand-in for ``mmcv.utils.ext_loader.load_ext``: the requested functions, portable or missing.

    RoIAlign comes as custom ops (npuport.runtime.kernels), one opaque op each under torch.compile.
    """
    from npuport.runtime import kernels

    table = {**PROVIDED, **kernels.EXT}
    return SimpleNamespace(**{fun: table.get(fun) or missing(fun) for fun in funcs})


def missing_ops(funcs: Iterable[str]) -> List[str]:
    """The names among `funcs` that have no portable version."""
    return [fun for fun in funcs if fun not in PROVIDED]
