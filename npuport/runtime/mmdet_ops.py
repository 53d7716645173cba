"""Portable stand-ins for the compiled op modules of mmdet 0.x / 1.x (``mmdet/ops/*``).

mmdet before 2.0 compiled its ops into modules inside its own tree (``nms_cpu``, ``nms_cuda``,
``roi_align_cuda``, ``sigmoid_focal_loss_cuda``, ...) with CUDA code that does not build on
torch 2.x. npuport's recipes change those imports to the namespaces here, which keep the
compiled modules' calling conventions (same function names and positional arguments, outputs
written into the tensors passed in), so the upstream autograd Functions run unchanged.

What the recipes' models call is provided, over ``npuport.runtime.ops`` (pure PyTorch on cpu
and cuda, torch_npu kernels on an NPU):

- ``nms_cpu.nms`` / ``nms_cuda.nms``: greedy NMS with mmdet 1.x's +1 pixel box size;
- ``roi_align_cuda.forward`` / ``.backward``: mmdet 1.x's RoIAlign (``roi_end = (x2 + 1) * scale``);
- ``sigmoid_focal_loss_cuda.forward`` / ``.backward``: per-element sigmoid focal loss with
  labels 1..C (0 background, -1 ignored);
- ``get_compiler_version`` / ``get_compiling_cuda_version``.

Everything else (soft-NMS, RoIPool, deformable conv and pooling, masked conv) is importable and
raises :class:`npuport.runtime.ops.MissingOpError` naming the op when it is called.
"""
from __future__ import annotations

from typing import Any, Callable, Dict

import torch

from npuport.runtime import ops
from npuport.runtime.ops import MissingOpError

__all__ = [
    "Extension", "MissingOpError", "nms", "roi_align_forward", "roi_align_backward", "sigmoid_focal_loss_forward",
    "sigmoid_focal_loss_backward", "nms_cpu", "nms_cuda", "soft_nms_cpu", "roi_align_cuda", "roi_pool_cuda",
    "sigmoid_focal_loss_cuda", "deform_conv_cuda", "deform_pool_cuda", "masked_conv2d_cuda", "compiling_info",
    "get_compiler_version", "get_compiling_cuda_version",
]


def _missing(qualified: str) -> Callable[..., Any]:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise MissingOpError(
            f"mmdet op '{qualified}' is compiled CUDA code in mmdet 1.x and npuport.runtime.mmdet_ops has no portable "
            f"version (the recipes' models do not call it); add it to npuport/runtime/mmdet_ops.py"
        )

    missing.__name__ = qualified.rsplit(".", 1)[-1]
    missing.npuport_missing = True  # type: ignore[attr-defined]
    return missing


class Extension:
    """A stand-in for one compiled module: the provided functions, any other name a missing op."""

    def __init__(self, name: str, **functions: Callable[..., Any]) -> None:
        self.__name__ = name
        self._functions: Dict[str, Callable[..., Any]] = functions

    def __getattr__(self, attr: str) -> Callable[..., Any]:
        if attr.startswith("__"):
            raise AttributeError(attr)
        functions = self.__dict__.get("_functions", {})
        return functions.get(attr) or _missing(f"{self.__name__}.{attr}")

    def __repr__(self) -> str:
        return f"<npuport portable ops {self.__name__}: {', '.join(sorted(self._functions)) or 'none'}>"


# ----------------------------------------------------------------------------------- nms


def nms(dets: torch.Tensor, iou_thr: float) -> torch.Tensor:
    """Indices of the boxes kept, highest score first; dets are (N, 5): x1, y1, x2, y2, score.

    mmdet 1.x counts box sizes as x2 - x1 + 1; a box is dropped when its IoU with a kept,
    higher-scored box is >= iou_thr.
    """
    if dets.size(0) == 0:
        return dets.new_zeros((0,), dtype=torch.long)
    return ops.nms(dets[:, :4].contiguous(), dets[:, 4].contiguous(), float(iou_thr), offset=1)


# ----------------------------------------------------------------------------- roi_align


def _aligned_rois(rois: torch.Tensor, spatial_scale: float) -> torch.Tensor:
    """RoIs that give ops.roi_align (aligned=True) the geometry of mmdet 1.x's kernel.

    mmdet 1.x samples from start = x1 * scale over width max((x2 + 1) * scale - start, 0);
    aligned=True reads start = x1' * scale - 0.5 and width = (x2' - x1') * scale, unclamped.
    """
    scale = float(spatial_scale)
    half = 0.5 / scale
    start_x, start_y = rois[:, 1] * scale, rois[:, 2] * scale
    width = ((rois[:, 3] + 1) * scale - start_x).clamp(min=0)
    height = ((rois[:, 4] + 1) * scale - start_y).clamp(min=0)
    x1 = rois[:, 1] + half
    y1 = rois[:, 2] + half
    return torch.stack([rois[:, 0], x1, y1, x1 + width / scale, y1 + height / scale], dim=1)


def _coords(rois: torch.Tensor) -> torch.Tensor:
    # box coordinates in float32 at least (also under autocast), float64 when given
    return rois if rois.dtype == torch.float64 else rois.float()


def roi_align_forward(
    features: torch.Tensor, rois: torch.Tensor, out_h: int, out_w: int, spatial_scale: float, sample_num: int,
    output: torch.Tensor,
) -> None:
    """RoIAlign (average of sample_num^2 bilinear samples per bin; adaptive when 0) into `output`."""
    if rois.size(0) == 0:
        return
    empty = features.new_zeros(0)
    ops.roi_align_forward(
        features, _aligned_rois(_coords(rois), spatial_scale), output, empty, empty,
        int(out_h), int(out_w), float(spatial_scale), int(sample_num), 1, True,
    )


def roi_align_backward(
    grad_output: torch.Tensor, rois: torch.Tensor, out_h: int, out_w: int, spatial_scale: float, sample_num: int,
    grad_input: torch.Tensor,
) -> None:
    """The gradient of :func:`roi_align_forward`, added into `grad_input`."""
    if rois.size(0) == 0:
        return
    empty = grad_output.new_zeros(0)
    ops.roi_align_backward(
        grad_output, _aligned_rois(_coords(rois), spatial_scale), empty, empty, grad_input,
        int(out_h), int(out_w), float(spatial_scale), int(sample_num), 1, True,
    )


# -------------------------------------------------------------------- sigmoid focal loss


def _focal_terms(logits: torch.Tensor, targets: torch.Tensor, gamma: float, alpha: float) -> torch.Tensor:
    # int32 class numbers and labels: the same comparisons, no int64 op (many NPU kernels lack int64)
    classes = torch.arange(1, logits.size(1) + 1, device=logits.device, dtype=torch.int32)
    labels = targets.to(torch.int32)[:, None]
    positive = (labels == classes).to(logits.dtype)
    negative = ((labels >= 0) & (labels != classes)).to(logits.dtype)
    p = torch.sigmoid(logits)
    log_p = torch.nn.functional.logsigmoid(logits)
    log_not_p = torch.nn.functional.logsigmoid(-logits)
    return -positive * alpha * (1 - p).pow(gamma) * log_p - negative * (1 - alpha) * p.pow(gamma) * log_not_p


def sigmoid_focal_loss_forward(
    logits: torch.Tensor, targets: torch.Tensor, num_classes: int, gamma: float, alpha: float
) -> torch.Tensor:
    """Per-element loss (N, C); targets (N,) hold 1..C for a class, 0 for background, -1 to ignore."""
    if logits.size(1) != int(num_classes):
        raise ValueError(f"sigmoid_focal_loss: logits have {logits.size(1)} classes, num_classes is {num_classes}")
    with torch.no_grad():
        return _focal_terms(logits.float(), targets, float(gamma), float(alpha)).to(logits.dtype)


def sigmoid_focal_loss_backward(
    logits: torch.Tensor, targets: torch.Tensor, d_loss: torch.Tensor, num_classes: int, gamma: float, alpha: float
) -> torch.Tensor:
    """d(loss)/d(logits) for the upstream gradient `d_loss` (N, C)."""
    with torch.enable_grad():
        x = logits.detach().float().requires_grad_(True)
        loss = _focal_terms(x, targets, float(gamma), float(alpha))
        (grad,) = torch.autograd.grad(loss, x, d_loss.float())
    return grad.to(logits.dtype)


# ---------------------------------------------------------------------------- build info


def get_compiler_version() -> str:
    return ops.get_compiler_version()


def get_compiling_cuda_version() -> str:
    return ops.get_compiling_cuda_version()


# -------------------------------------------------- the compiled modules, by their names

nms_cpu = Extension("nms_cpu", nms=nms)
nms_cuda = Extension("nms_cuda", nms=nms)
soft_nms_cpu = _missing("soft_nms_cpu.soft_nms_cpu")
roi_align_cuda = Extension("roi_align_cuda", forward=roi_align_forward, backward=roi_align_backward)
roi_pool_cuda = Extension("roi_pool_cuda")
sigmoid_focal_loss_cuda = Extension(
    "sigmoid_focal_loss_cuda", forward=sigmoid_focal_loss_forward, backward=sigmoid_focal_loss_backward
)
deform_conv_cuda = Extension("deform_conv_cuda")
deform_pool_cuda = Extension("deform_pool_cuda")
masked_conv2d_cuda = Extension("masked_conv2d_cuda")
compiling_info = Extension(
    "compiling_info", get_compiler_version=get_compiler_version, get_compiling_cuda_version=get_compiling_cuda_version
)
