"""Portable RoIAlign (mmcv's `_ext.roi_align_forward/backward`, avg mode): a sparse weight matrix on cpu / cuda,
torch_npu's kernels on an NPU."""
from __future__ import annotations

import warnings
from typing import Any, Iterable, List, Tuple

import torch

from npuport.runtime import census
from npuport.runtime.portable import MissingOpError, is_npu, torch_npu_module

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)


def _axis_samples(
    start: torch.Tensor, bin_size: torch.Tensor, pooled: int, grid: int, size: int
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear taps along one axis for `grid` samples in each of `pooled` bins.

    Returns (low, high, w_low, w_high), each shaped (rois, pooled, grid), following mmcv:
    a sample outside [-1, size] gets zero weight; one in [-1, 0] is clamped to 0; one past
    the last pixel is clamped to it.
    """
    dtype = start.dtype
    p = torch.arange(pooled, dtype=dtype, device=start.device)
    g = torch.arange(grid, dtype=dtype, device=start.device) + 0.5
    bin_ = bin_size[:, None, None]
    pos = (start[:, None, None] + p[None, :, None] * bin_) + g[None, None, :] * bin_ / grid
    valid = (pos >= -1.0) & (pos <= size)
    pos = pos.clamp(min=0)
    low = pos.floor().long().clamp(max=size - 1)
    at_edge = low >= size - 1
    pos = torch.where(at_edge, low.to(dtype), pos)
    high = torch.where(at_edge, low, low + 1)
    frac = pos - low.to(dtype)
    zero = torch.zeros((), dtype=dtype, device=start.device)
    w_low = torch.where(valid, 1.0 - frac, zero)
    w_high = torch.where(valid, frac, zero)
    return low, high, w_low, w_high


def _roi_geometry(
    rois: torch.Tensor, spatial_scale: float, aligned: bool
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    offset = 0.5 if aligned else 0.0
    start_w = rois[:, 1] * spatial_scale - offset
    start_h = rois[:, 2] * spatial_scale - offset
    roi_w = rois[:, 3] * spatial_scale - offset - start_w
    roi_h = rois[:, 4] * spatial_scale - offset - start_h
    if aligned:
        if bool(((roi_w < 0) | (roi_h < 0)).any()):
            raise ValueError("roi_align: RoIs with negative width or height (aligned=True)")
    else:  # mmcv keeps the legacy minimum size of one pixel
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    return start_w, start_h, roi_w, roi_h


def _roi_align_plan(
    rois: torch.Tensor,
    input_shape: Iterable[int],
    pooled_h: int,
    pooled_w: int,
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> List[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Where each pooled bin reads the NHWC-flattened input, and with what weight.

    roi_align with pool_mode 'avg' is linear in its input: bin (r, ph, pw) is a weighted sum
    of gh * gw bilinear samples of 4 taps each. RoIs are grouped by their sampling grid
    (adaptive when sampling_ratio is 0: ceil(roi_size / pooled_size) per RoI); each group is
    (roi indices (n,), taps (n*PH*PW, K), weights (n*PH*PW, K)) with K = gh * gw * 4.
    """
    _, _, height, width = (int(s) for s in input_shape)
    rois = rois.detach()
    start_w, start_h, roi_w, roi_h = _roi_geometry(rois, spatial_scale, aligned)
    bin_h = roi_h / pooled_h
    bin_w = roi_w / pooled_w
    if sampling_ratio > 0:
        grid_h = torch.full_like(roi_h, sampling_ratio, dtype=torch.long)
        grid_w = torch.full_like(roi_w, sampling_ratio, dtype=torch.long)
    else:
        grid_h = torch.ceil(roi_h / pooled_h).long()
        grid_w = torch.ceil(roi_w / pooled_w).long()
    batch = rois[:, 0].long()
    keys = grid_h * (int(grid_w.max()) + 1) + grid_w
    groups = []
    for key in torch.unique(keys).tolist():
        idx = torch.nonzero(keys == key, as_tuple=False).squeeze(1)
        gh, gw = int(grid_h[idx[0]]), int(grid_w[idx[0]])
        if gh == 0 or gw == 0:  # empty grid: the bin stays 0, nothing to read
            continue
        y0, y1, wy0, wy1 = _axis_samples(start_h[idx], bin_h[idx], pooled_h, gh, height)
        x0, x1, wx0, wx1 = _axis_samples(start_w[idx], bin_w[idx], pooled_w, gw, width)
        # (n, PH, grid_h, 2) and (n, PW, grid_w, 2): the two taps along each axis
        ys = torch.stack([y0, y1], dim=-1)[:, :, None, :, None, :, None]
        wy = (torch.stack([wy0, wy1], dim=-1) / (gh * gw))[:, :, None, :, None, :, None]
        xs = torch.stack([x0, x1], dim=-1)[:, None, :, None, :, None, :]
        wx = torch.stack([wx0, wx1], dim=-1)[:, None, :, None, :, None, :]
        base = (batch[idx] * (height * width))[:, None, None, None, None, None, None]
        # broadcast to (n, PH, PW, grid_h, grid_w, 2, 2), then one row per bin
        shape = (idx.numel(), pooled_h, pooled_w, gh, gw, 2, 2)
        taps = (base + ys * width + xs).expand(shape).reshape(-1, gh * gw * 4)
        weights = (wy * wx).expand(shape).reshape(-1, gh * gw * 4)
        groups.append((idx, taps, weights))
    return groups


def roi_align_forward(
    input: torch.Tensor,
    rois: torch.Tensor,
    output: torch.Tensor,
    argmax_y: torch.Tensor,
    argmax_x: torch.Tensor,
    aligned_height: int = 7,
    aligned_width: int = 7,
    spatial_scale: float = 1.0,
    sampling_ratio: int = 0,
    pool_mode: int = 1,
    aligned: bool = True,
) -> None:
    """RoIAlign forward into `output` (R, C, PH, PW) (mmcv's `_ext.roi_align_forward`).

    Only pool_mode 1 (avg), the mode of every mmdet RoI extractor and mask target.
    """
    check_avg(pool_mode)
    if is_npu(input):
        output.copy_(_roi_align_npu(input, rois, aligned_height, aligned_width, spatial_scale, sampling_ratio, aligned))
        return
    with census.kernel("npu_roi_align", (input, rois)):  # one NPU kernel: counted as one in a census
        forward_cpu(input, rois, output, aligned_height, aligned_width, spatial_scale, sampling_ratio, aligned)


def forward_cpu(input: torch.Tensor, rois: torch.Tensor, output: torch.Tensor, aligned_height: int,
                aligned_width: int, spatial_scale: float, sampling_ratio: int, aligned: bool,
                taps_only: bool = False) -> None:
    """The portable forward's body (cpu / cuda), without the census.

    `taps_only` (a one-channel input): the product reads the bins' taps gathered from the input in its own dtype
    and cast (the same sums, term for term), not the whole input cast to float first.
    """
    if rois.size(0) == 0:
        return
    dtype = _plan_dtype(output) if taps_only else _plan_dtype(input)
    n, c, h, w = input.shape
    if taps_only:
        source = input.detach().reshape(-1)
    else:
        flat = input.detach().permute(0, 2, 3, 1).reshape(n * h * w, c).to(dtype)
        if c == 1:  # (N, 1) strided h*w on its size-1 dim: the sparse mm would copy all N first (mask targets)
            flat = flat.reshape(-1)[:, None]
    plan = _roi_align_plan(rois.to(dtype), input.shape, aligned_height, aligned_width, spatial_scale, sampling_ratio, aligned)
    output.zero_()  # a RoI with an empty sampling grid pools 0; only the others are written below
    with torch.autocast(device_type=input.device.type, enabled=False):  # sums in float32 under AMP too
        for idx, taps, weights in plan:
            rows, k = taps.shape
            crow = torch.arange(0, rows * k + 1, k, device=taps.device)
            if taps_only:  # column j of the product is tap j's value
                values = source[taps.reshape(-1)].to(dtype)[:, None]
                columns, width_ = torch.arange(rows * k, device=taps.device), rows * k
            else:
                values, columns, width_ = flat, taps.reshape(-1), n * h * w
            matrix = torch.sparse_csr_tensor(
                crow, columns, weights.reshape(-1), (rows, width_), check_invariants=False
            )
            pooled = (matrix @ values).view(idx.numel(), aligned_height, aligned_width, c)
            output[idx] = pooled.permute(0, 3, 1, 2).to(output.dtype)


def pool_taps(input: torch.Tensor, rois: torch.Tensor, output_size: Tuple[int, int], spatial_scale: float = 1.0,
              sampling_ratio: int = 0, aligned: bool = True) -> torch.Tensor:
    """Forward-only RoIAlign (avg) of a one-channel input of any dtype: `roi_align(input.float(), ...)`'s numbers.

    Only the bins' taps are read and cast (the mask targets' uint8 gt masks are not cast whole); cpu / cuda. An
    NPU's `npu_roi_align` takes a float input: there the input is cast.
    """
    ph, pw = output_size
    output = torch.zeros((rois.size(0), 1, ph, pw), dtype=torch.float32, device=input.device)
    if is_npu(input):
        output.copy_(_roi_align_npu(input.float(), rois, ph, pw, spatial_scale, sampling_ratio, aligned))
        return output
    with census.kernel("npu_roi_align", (input, rois)):
        forward_cpu(input, rois, output, ph, pw, spatial_scale, sampling_ratio, aligned, taps_only=True)
    return output


def roi_align_backward(
    grad_output: torch.Tensor,
    rois: torch.Tensor,
    argmax_y: torch.Tensor,
    argmax_x: torch.Tensor,
    grad_input: torch.Tensor,
    aligned_height: int = 7,
    aligned_width: int = 7,
    spatial_scale: float = 1.0,
    sampling_ratio: int = 0,
    pool_mode: int = 1,
    aligned: bool = True,
) -> None:
    """RoIAlign backward, added into `grad_input` (mmcv's `_ext.roi_align_backward`)."""
    check_avg(pool_mode)
    if is_npu(grad_output):
        grad_input.add_(
            _roi_align_npu_backward(
                grad_output, rois, grad_input.shape, aligned_height, aligned_width, spatial_scale, sampling_ratio, aligned
            )
        )
        return
    with census.kernel("npu_roi_align_grad", (grad_output, rois)):  # one NPU kernel, as in the forward
        backward_cpu(grad_output, rois, grad_input, aligned_height, aligned_width, spatial_scale, sampling_ratio,
                     aligned)


def backward_cpu(grad_output: torch.Tensor, rois: torch.Tensor, grad_input: torch.Tensor, aligned_height: int,
                 aligned_width: int, spatial_scale: float, sampling_ratio: int, aligned: bool) -> None:
    """The portable backward's body (cpu / cuda), added into `grad_input`, without the census."""
    if rois.size(0) == 0:
        return
    dtype = _plan_dtype(grad_output)
    n, c, h, w = grad_input.shape
    bins = aligned_height * aligned_width
    plan = _roi_align_plan(rois.to(dtype), grad_input.shape, aligned_height, aligned_width, spatial_scale, sampling_ratio, aligned)
    if not plan:
        return
    # only the RoIs that read something: their gradient rows, in plan order
    grad = grad_output[torch.cat([idx for idx, _, _ in plan])].permute(0, 2, 3, 1).reshape(-1, c).to(dtype)
    taps, rows, weights = [], [], []
    first = 0
    for idx, group_taps, group_weights in plan:
        k = group_taps.size(1)
        local = torch.arange(first, first + idx.numel(), device=idx.device)
        first += idx.numel()
        bin_rows = (local[:, None] * bins + torch.arange(bins, device=idx.device)).reshape(-1)
        taps.append(group_taps.reshape(-1))
        rows.append(bin_rows.repeat_interleave(k))
        weights.append(group_weights.reshape(-1))
    # the transpose of the forward map, as COO (input position, bin); duplicates are summed
    transposed = torch.sparse_coo_tensor(
        torch.stack([torch.cat(taps), torch.cat(rows)]), torch.cat(weights), (n * h * w, grad.size(0)), check_invariants=False
    )
    with torch.autocast(device_type=grad.device.type, enabled=False):
        spread = torch.sparse.mm(transposed, grad)  # (N*H*W, C)
    grad_input.add_(spread.view(n, h, w, c).permute(0, 3, 1, 2))


def _plan_dtype(tensor: torch.Tensor) -> torch.dtype:
    # coordinates and sums in float32 at least, also under autocast (half, bfloat16)
    return torch.float64 if tensor.dtype == torch.float64 else torch.float32


def check_avg(pool_mode: int) -> None:
    if int(pool_mode) != 1:
        raise MissingOpError(
            "mmcv op 'roi_align' with pool_mode='max' has no portable version in npuport.runtime.ops; "
            "use pool_mode='avg' or build mmcv-full with its ops"
        )


def _npu_roi_end_mode(aligned: bool) -> int:
    # torch_npu.contrib.module.ROIAlign: 3 for aligned=True, 0 for the legacy mode
    return 3 if aligned else 0


def _roi_align_npu(
    input: torch.Tensor, rois: torch.Tensor, ph: int, pw: int, scale: float, ratio: int, aligned: bool
) -> torch.Tensor:
    npu = torch_npu_module()
    return npu.npu_roi_align(input, rois, scale, ph, pw, ratio, _npu_roi_end_mode(aligned))


def _roi_align_npu_backward(
    grad: torch.Tensor, rois: torch.Tensor, shape: Any, ph: int, pw: int, scale: float, ratio: int, aligned: bool
) -> torch.Tensor:
    npu = torch_npu_module()
    return npu.npu_roi_alignbk(grad.contiguous(), rois, list(shape), pw, ph, scale, ratio, _npu_roi_end_mode(aligned))


class RoIAlignFunction(torch.autograd.Function):
    """Autograd wrapper over roi_align_forward/backward, for use without mmcv."""

    @staticmethod
    def forward(ctx: Any, input, rois, output_size, spatial_scale, sampling_ratio, aligned):  # type: ignore[override]
        ph, pw = output_size
        ctx.meta = (tuple(input.shape), ph, pw, spatial_scale, sampling_ratio, aligned)
        ctx.save_for_backward(rois)
        output = input.new_zeros((rois.size(0), input.size(1), ph, pw))
        empty = input.new_zeros(0)
        roi_align_forward(input, rois, output, empty, empty, ph, pw, spatial_scale, sampling_ratio, 1, aligned)
        return output

    @staticmethod
    def backward(ctx: Any, grad_output):  # type: ignore[override]
        (rois,) = ctx.saved_tensors
        shape, ph, pw, spatial_scale, sampling_ratio, aligned = ctx.meta
        grad_input = grad_output.new_zeros(shape)
        empty = grad_output.new_zeros(0)
        roi_align_backward(
            grad_output.contiguous(), rois, empty, empty, grad_input, ph, pw, spatial_scale, sampling_ratio, 1, aligned
        )
        return grad_input, None, None, None, None, None


def roi_align(
    input: torch.Tensor,
    rois: torch.Tensor,
    output_size: Tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = 0,
    aligned: bool = True,
) -> torch.Tensor:
    """Differentiable RoIAlign (avg) with mmcv's semantics; rois are (R, 5): batch, x1, y1, x2, y2."""
    return RoIAlignFunction.apply(input, rois, tuple(output_size), float(spatial_scale), int(sampling_ratio), aligned)
