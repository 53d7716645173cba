"""The portable RoIAlign as PyTorch custom ops (namespace ``npuport``): one opaque op each, as on the NPU.

TorchDynamo (torch.compile, and TorchAir, Ascend's graph mode, on the same frontend) traces into a plain
Python function; the portable RoIAlign groups RoIs by their sampling grid, which reads sizes to the host,
so a traced step would break its graph there and recompile whenever the RoIs change. As custom ops with a
fake (meta) implementation, each is one node of known output shape, like ``npu_roi_align`` on the NPU.
:func:`npuport.runtime.ops.load_ext` hands these to mmcv in place of the plain functions.
"""
from __future__ import annotations

from typing import Any, Callable, Dict

import torch

from npuport.runtime import roi_align as portable_roi_align


@torch.library.custom_op("npuport::roi_align_forward", mutates_args=("output",))
def _roi_align_forward(input: torch.Tensor, rois: torch.Tensor, output: torch.Tensor, aligned_height: int,
                       aligned_width: int, spatial_scale: float, sampling_ratio: int, aligned: bool) -> None:
    empty = input.new_zeros(0)
    portable_roi_align.roi_align_forward(input, rois, output, empty, empty, aligned_height, aligned_width,
                                         spatial_scale, sampling_ratio, 1, aligned)


@_roi_align_forward.register_fake
def _(input, rois, output, aligned_height, aligned_width, spatial_scale, sampling_ratio, aligned):  # noqa: ANN001
    return None


@torch.library.custom_op("npuport::roi_align_backward", mutates_args=("grad_input",))
def _roi_align_backward(grad_output: torch.Tensor, rois: torch.Tensor, grad_input: torch.Tensor, aligned_height: int,
                        aligned_width: int, spatial_scale: float, sampling_ratio: int, aligned: bool) -> None:
    empty = grad_output.new_zeros(0)
    portable_roi_align.roi_align_backward(grad_output, rois, empty, empty, grad_input, aligned_height, aligned_width,
                                          spatial_scale, sampling_ratio, 1, aligned)


@_roi_align_backward.register_fake
def _(grad_output, rois, grad_input, aligned_height, aligned_width, spatial_scale, sampling_ratio, aligned):  # noqa: ANN001
    return None


def roi_align_forward(input: torch.Tensor, rois: torch.Tensor, output: torch.Tensor, argmax_y: torch.Tensor,
                      argmax_x: torch.Tensor, aligned_height: int = 7, aligned_width: int = 7,
                      spatial_scale: float = 1.0, sampling_ratio: int = 0, pool_mode: int = 1,
                      aligned: bool = True) -> None:
    """mmcv's ``_ext.roi_align_forward`` calling convention over the custom op."""
    portable_roi_align.check_avg(pool_mode)
    _roi_align_forward(input, rois, output, int(aligned_height), int(aligned_width), float(spatial_scale),
                       int(sampling_ratio), bool(aligned))


def roi_align_backward(grad_output: torch.Tensor, rois: torch.Tensor, argmax_y: torch.Tensor, argmax_x: torch.Tensor,
                       grad_input: torch.Tensor, aligned_height: int = 7, aligned_width: int = 7,
                       spatial_scale: float = 1.0, sampling_ratio: int = 0, pool_mode: int = 1,
                       aligned: bool = True) -> None:
    """mmcv's ``_ext.roi_align_backward`` calling convention over the custom op."""
    portable_roi_align.check_avg(pool_mode)
    _roi_align_backward(grad_output, rois, grad_input, int(aligned_height), int(aligned_width), float(spatial_scale),
                        int(sampling_ratio), bool(aligned))


EXT: Dict[str, Callable[..., Any]] = {
    "roi_align_forward": roi_align_forward,
    "roi_align_backward": roi_align_backward,
}
