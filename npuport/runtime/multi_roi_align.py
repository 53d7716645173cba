"""Multi-level RoIAlign in one static op: each RoI pooled from its own FPN level only.

mmdet's RoI extractor splits the RoIs by level with nonzero (a data-dependent shape) and pools each level's
share; gcnet's `static-roi-extractor` first made it static by pooling every RoI on every level (the others as empty
boxes) and blending, 1.6-1.7x the work on a CPU. :func:`roi_align_levels` is one PyTorch custom op
(``npuport::roi_align_levels``, and its backward) of fixed output shape (RoIs, C, PH, PW) whatever the levels:
TorchDynamo sees one node, the census one RoIAlign kernel per level. Inside, on cpu / cuda, each level pools
only its own RoIs with the portable RoIAlign (the same sums as mmdet's per-level RoIAlign, so the same
numbers); on an NPU each level is ``npu_roi_align`` over all RoIs, those of other levels as empty boxes, and
a blend keeps each RoI's own (static shapes, as the NPU wants them; no host read).
"""
from __future__ import annotations

from typing import Any, List, Sequence

import torch

from npuport.runtime import census
from npuport.runtime import roi_align as portable
from npuport.runtime.portable import is_npu


def _levels(levels: torch.Tensor, level: int, npu: bool) -> Any:
    mine = levels == level
    return mine if npu else torch.nonzero(mine, as_tuple=False).squeeze(1)


@torch.library.custom_op("npuport::roi_align_levels", mutates_args=())
def _forward(feats: List[torch.Tensor], rois: torch.Tensor, levels: torch.Tensor, pooled_h: int, pooled_w: int,
             scales: List[float], sampling_ratio: int, aligned: bool) -> torch.Tensor:
    out = feats[0].new_zeros((rois.size(0), feats[0].size(1), pooled_h, pooled_w))
    npu = is_npu(rois)
    for level, (feat, scale) in enumerate(zip(feats, scales)):
        with census.kernel("npu_roi_align", (feat, rois)):  # the NPU runs one RoIAlign per level
            mine = _levels(levels, level, npu)
            if npu:
                pooled = portable._roi_align_npu(feat, rois * mine[:, None].to(rois.dtype), pooled_h, pooled_w,
                                                 scale, sampling_ratio, aligned)
                out = torch.where(mine[:, None, None, None], pooled.to(out.dtype), out)
            elif mine.numel():
                pooled = out.new_zeros((mine.numel(), *out.shape[1:]))
                portable.forward_cpu(feat, rois[mine], pooled, pooled_h, pooled_w, scale, sampling_ratio, aligned)
                out[mine] = pooled
    return out


@_forward.register_fake
def _(feats, rois, levels, pooled_h, pooled_w, scales, sampling_ratio, aligned):  # noqa: ANN001
    return feats[0].new_empty((rois.size(0), feats[0].size(1), pooled_h, pooled_w))


@torch.library.custom_op("npuport::roi_align_levels_backward", mutates_args=())
def _backward(grad: torch.Tensor, feats: List[torch.Tensor], rois: torch.Tensor, levels: torch.Tensor,
              pooled_h: int, pooled_w: int, scales: List[float], sampling_ratio: int,
              aligned: bool) -> List[torch.Tensor]:
    grads = []
    npu = is_npu(rois)
    for level, (feat, scale) in enumerate(zip(feats, scales)):
        with census.kernel("npu_roi_align_grad", (grad, rois, feat)):  # its signature has the level's shape
            mine = _levels(levels, level, npu)
            if npu:
                masked = grad * mine[:, None, None, None].to(grad.dtype)
                grads.append(portable._roi_align_npu_backward(
                    masked, rois * mine[:, None].to(rois.dtype), feat.shape, pooled_h, pooled_w, scale,
                    sampling_ratio, aligned).to(feat.dtype))
                continue
            out = feat.new_zeros(feat.shape)
            if mine.numel():
                portable.backward_cpu(grad[mine].contiguous(), rois[mine], out, pooled_h, pooled_w, scale,
                                      sampling_ratio, aligned)
            grads.append(out)
    return grads


@_backward.register_fake
def _(grad, feats, rois, levels, pooled_h, pooled_w, scales, sampling_ratio, aligned):  # noqa: ANN001
    return [feat.new_empty(feat.shape) for feat in feats]


def _setup_context(ctx: Any, inputs: Any, output: Any) -> None:
    feats, rois, levels, pooled_h, pooled_w, scales, sampling_ratio, aligned = inputs
    ctx.save_for_backward(rois, levels, *feats)
    ctx.meta = (pooled_h, pooled_w, scales, sampling_ratio, aligned)


def _grad(ctx: Any, grad: torch.Tensor) -> Any:
    rois, levels, *feats = ctx.saved_tensors
    grads = _backward(grad.contiguous(), feats, rois, levels, *ctx.meta)
    return list(grads), None, None, None, None, None, None, None


_forward.register_autograd(_grad, setup_context=_setup_context)


def roi_align_levels(feats: Sequence[torch.Tensor], rois: torch.Tensor, levels: torch.Tensor,
                     layers: Sequence[Any]) -> torch.Tensor:
    """RoIAlign of each RoI (batch, x1, y1, x2, y2) on feats[levels[i]], with the per-level `layers`' settings.

    `layers` are mmcv ``RoIAlign`` modules (one per level: output size, spatial scale, sampling ratio, aligned,
    avg pooling), as an mmdet RoI extractor holds them; `levels` (any integer dtype) say each RoI's level.
    """
    first = layers[0]
    for layer in layers:
        portable.check_avg(1 if getattr(layer, "pool_mode", "avg") == "avg" else 0)
        if (tuple(layer.output_size), layer.sampling_ratio, layer.aligned) != (
                tuple(first.output_size), first.sampling_ratio, first.aligned):
            raise ValueError("roi_align_levels: the levels' RoIAlign layers differ in more than their scale")
    pooled_h, pooled_w = (int(s) for s in first.output_size)
    scales = [float(layer.spatial_scale) for layer in layers]
    return _forward(list(feats), rois, levels, pooled_h, pooled_w, scales, int(first.sampling_ratio),
                    bool(first.aligned))
