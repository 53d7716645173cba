"""npuport.runtime.mmdet_ops: the portable stand-ins for mmdet 1.x's compiled ops, against reference loops
written from the CUDA/C++ kernels' arithmetic (one output element at a time)."""

from __future__ import annotations

import math

import pytest
import torch

from npuport.runtime import mmdet_ops
from npuport.runtime.ops import MissingOpError

FLT_MIN = 1.1754943508222875e-38


# ------------------------------------------------------------------------------------ nms


def reference_nms(dets: list[list[float]], threshold: float) -> list[int]:
    """mmdet 1.x nms_cpu: boxes by descending score, areas with +1, drop IoU >= threshold."""
    order = sorted(range(len(dets)), key=lambda i: -dets[i][4])
    suppressed = [False] * len(dets)
    keep = []
    for a, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        x1, y1, x2, y2 = dets[i][:4]
        area_i = (x2 - x1 + 1) * (y2 - y1 + 1)
        for j in order[a + 1:]:
            if suppressed[j]:
                continue
            u1, v1, u2, v2 = dets[j][:4]
            w = max(0.0, min(x2, u2) - max(x1, u1) + 1)
            h = max(0.0, min(y2, v2) - max(y1, v1) + 1)
            inter = w * h
            if inter / (area_i + (u2 - u1 + 1) * (v2 - v1 + 1) - inter) >= threshold:
                suppressed[j] = True
    return keep


def random_dets(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 60
    wh = torch.rand(n, 2, generator=g) * 30
    scores = torch.randperm(n, generator=g).float() / n  # distinct scores: one right order
    return torch.cat([xy, xy + wh, scores[:, None]], dim=1)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_matches_reference(threshold: float) -> None:
    dets = random_dets(120, seed=int(threshold * 10))
    keep = mmdet_ops.nms_cpu.nms(dets, threshold)
    assert keep.dtype == torch.long
    assert keep.tolist() == reference_nms(dets.tolist(), threshold)
    assert mmdet_ops.nms_cuda.nms(dets, threshold).tolist() == keep.tolist()
    assert 0 < keep.numel() < 120


def test_nms_counts_the_extra_pixel() -> None:
    # IoU without the extra pixel: 50 / 150 = 0.333; with it (11 x 11 boxes sharing 6 x 11): 66 / 176 = 0.375
    dets = torch.tensor([[0, 0, 10, 10, 0.9], [5, 0, 15, 10, 0.8]], dtype=torch.float32)
    assert mmdet_ops.nms(dets, 0.35).tolist() == [0]
    assert mmdet_ops.nms(dets, 0.376).tolist() == [0, 1]
    assert mmdet_ops.nms(dets[:0], 0.5).numel() == 0


# ------------------------------------------------------------------------------ roi_align


def _bilinear(feat: torch.Tensor, y: float, x: float) -> float:
    height, width = feat.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    return float(hy * hx * feat[y_low, x_low] + hy * lx * feat[y_low, x_high]
                 + ly * hx * feat[y_high, x_low] + ly * lx * feat[y_high, x_high])


def reference_roi_align(features: torch.Tensor, rois: torch.Tensor, out: int, scale: float, sample_num: int):
    """mmdet 1.x ROIAlignForward, element by element."""
    result = torch.zeros(rois.size(0), features.size(1), out, out, dtype=torch.float64)
    for n, roi in enumerate(rois.tolist()):
        batch = int(roi[0])
        start_w, start_h = roi[1] * scale, roi[2] * scale
        roi_w = max((roi[3] + 1) * scale - start_w, 0.0)
        roi_h = max((roi[4] + 1) * scale - start_h, 0.0)
        bin_h, bin_w = roi_h / out, roi_w / out
        grid_h = sample_num if sample_num > 0 else math.ceil(roi_h / out)
        grid_w = sample_num if sample_num > 0 else math.ceil(roi_w / out)
        for c in range(features.size(1)):
            feat = features[batch, c].double()
            for ph in range(out):
                for pw in range(out):
                    total = 0.0
                    for iy in range(grid_h):
                        y = start_h + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                        for ix in range(grid_w):
                            x = start_w + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                            total += _bilinear(feat, y, x)
                    result[n, c, ph, pw] = total / (grid_h * grid_w)
    return result


def sample_rois() -> torch.Tensor:
    return torch.tensor([
        [0, 3.0, 5.0, 40.0, 30.0],     # inside
        [1, 10.3, 2.7, 18.9, 25.2],    # fractional corners
        [0, -6.0, -4.0, 20.0, 12.0],   # partly outside, top-left
        [1, 50.0, 40.0, 70.0, 66.0],   # past the bottom-right edge
        [0, 22.0, 22.0, 22.0, 22.0],   # a single pixel
    ], dtype=torch.float32)


@pytest.mark.parametrize("sample_num", [0, 2])
@pytest.mark.parametrize("scale", [0.25, 0.125])
def test_roi_align_forward_matches_reference(sample_num: int, scale: float) -> None:
    g = torch.Generator().manual_seed(3)
    features = torch.randn(2, 3, 16, 14, generator=g)
    rois = sample_rois()
    output = features.new_zeros(rois.size(0), 3, 7, 7)
    mmdet_ops.roi_align_cuda.forward(features, rois, 7, 7, scale, sample_num, output)
    expected = reference_roi_align(features, rois, 7, scale, sample_num)
    torch.testing.assert_close(output.double(), expected, atol=1e-5, rtol=1e-4)
    assert output.abs().sum() > 0


def test_roi_align_backward_is_the_adjoint() -> None:
    # roi_align is linear in the features: <forward(x), g> == <x, backward(g)> for any x, g
    g = torch.Generator().manual_seed(5)
    features = torch.randn(2, 3, 16, 14, generator=g, dtype=torch.float64)
    rois = sample_rois().double()
    grad_out = torch.randn(rois.size(0), 3, 7, 7, generator=g, dtype=torch.float64)
    grad_in = torch.zeros_like(features)
    mmdet_ops.roi_align_cuda.backward(grad_out, rois, 7, 7, 0.25, 2, grad_in)
    forward = reference_roi_align(features, rois, 7, 0.25, 2)
    assert float((forward * grad_out).sum()) == pytest.approx(float((features * grad_in).sum()), rel=1e-9, abs=1e-9)
    assert grad_in.abs().sum() > 0


def test_roi_align_with_no_rois_leaves_output() -> None:
    output = torch.full((0, 3, 7, 7), 1.0)
    mmdet_ops.roi_align_forward(torch.randn(1, 3, 8, 8), torch.zeros(0, 5), 7, 7, 0.25, 2, output)
    assert output.shape == (0, 3, 7, 7)


# --------------------------------------------------------------------- sigmoid focal loss


def reference_focal(logits: torch.Tensor, targets: torch.Tensor, gamma: float, alpha: float, grad: bool = False):
    """SigmoidFocalLossForward / Backward, element by element (backward with d_loss = 1)."""
    out = torch.zeros(logits.shape, dtype=torch.float64)
    for n in range(logits.size(0)):
        t = int(targets[n])
        for d in range(logits.size(1)):
            x = float(logits[n, d])
            c1 = float(t == d + 1)
            c2 = float(t >= 0 and t != d + 1)
            p = 1.0 / (1.0 + math.exp(-x))
            log_not_p = -x * (x >= 0) - math.log(1.0 + math.exp(x - 2.0 * x * (x >= 0)))
            if grad:
                term1 = (1 - p) ** gamma * (1 - p - p * gamma * math.log(max(p, FLT_MIN)))
                term2 = p ** gamma * (log_not_p * (1 - p) * gamma - p)
            else:
                term1 = (1 - p) ** gamma * math.log(max(p, FLT_MIN))
                term2 = p ** gamma * log_not_p
            out[n, d] = -c1 * term1 * alpha - c2 * term2 * (1 - alpha)
    return out


def test_sigmoid_focal_loss_matches_reference() -> None:
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(12, 5, generator=g) * 3
    targets = torch.tensor([0, 1, 2, 3, 4, 5, -1, 0, 5, 2, 1, 3])  # 0 background, -1 ignored
    loss = mmdet_ops.sigmoid_focal_loss_cuda.forward(logits, targets, 5, 2.0, 0.25)
    assert loss.shape == (12, 5) and loss.dtype == torch.float32
    torch.testing.assert_close(loss.double(), reference_focal(logits, targets, 2.0, 0.25), atol=1e-5, rtol=1e-4)
    assert float(loss[6].abs().sum()) == 0.0  # the ignored row
    d_loss = torch.ones(12, 5)
    grad = mmdet_ops.sigmoid_focal_loss_cuda.backward(logits, targets, d_loss, 5, 2.0, 0.25)
    torch.testing.assert_close(grad.double(), reference_focal(logits, targets, 2.0, 0.25, grad=True),
                               atol=1e-5, rtol=1e-4)
    scaled = mmdet_ops.sigmoid_focal_loss_backward(logits, targets, d_loss * 3, 5, 2.0, 0.25)
    torch.testing.assert_close(scaled, grad * 3)


def test_sigmoid_focal_loss_rejects_wrong_class_count() -> None:
    with pytest.raises(ValueError, match="num_classes is 4"):
        mmdet_ops.sigmoid_focal_loss_forward(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long), 4, 2.0, 0.25)


# ---------------------------------------------------------------------- what is missing


def test_ops_not_provided_fail_when_called_with_their_name() -> None:
    op = mmdet_ops.deform_conv_cuda.deform_conv_forward_cuda  # importing/looking up never fails
    with pytest.raises(MissingOpError, match="deform_conv_cuda.deform_conv_forward_cuda"):
        op(torch.zeros(1))
    with pytest.raises(MissingOpError, match="soft_nms_cpu"):
        mmdet_ops.soft_nms_cpu(None, 0.5)
    with pytest.raises(MissingOpError, match="roi_pool_cuda.forward"):
        mmdet_ops.roi_pool_cuda.forward()
    with pytest.raises(AttributeError):
        mmdet_ops.roi_align_cuda.__wrapped__  # dunder lookups stay AttributeErrors (copy, pickle, inspect)
    assert mmdet_ops.get_compiler_version().startswith("npuport")
    assert "forward" in repr(mmdet_ops.roi_align_cuda)
