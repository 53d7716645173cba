"""npuport.runtime.ops against plain-loop references written here from mmcv's documented semantics."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from npuport.runtime import boxes as box_ops, ops  # noqa: E402


# ------------------------------------------------------------------ reference roi_align


def _bilinear(fmap, y, x):
    """One bilinear sample of a (H, W) map with mmcv's border rules."""
    height, width = fmap.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (
        hy * hx * fmap[y_low, x_low]
        + hy * lx * fmap[y_low, x_high]
        + ly * hx * fmap[y_high, x_low]
        + ly * lx * fmap[y_high, x_high]
    )


def reference_roi_align(feat, rois, out_h, out_w, scale, ratio, aligned):
    feat = feat.double().numpy()
    out = torch.zeros((len(rois), feat.shape[1], out_h, out_w), dtype=torch.float64)
    for r, (b, x1, y1, x2, y2) in enumerate(rois.double().tolist()):
        off = 0.5 if aligned else 0.0
        sx, sy = x1 * scale - off, y1 * scale - off
        rw, rh = x2 * scale - off - sx, y2 * scale - off - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / out_h, rw / out_w
        gh = ratio if ratio > 0 else math.ceil(rh / out_h)
        gw = ratio if ratio > 0 else math.ceil(rw / out_w)
        count = max(gh * gw, 1)
        for c in range(feat.shape[1]):
            for ph in range(out_h):
                for pw in range(out_w):
                    total = 0.0
                    for iy in range(gh):
                        y = sy + ph * bh + (iy + 0.5) * bh / gh
                        for ix in range(gw):
                            x = sx + pw * bw + (ix + 0.5) * bw / gw
                            total += _bilinear(feat[int(b), c], y, x)
                    out[r, c, ph, pw] = total / count
    return out


def _rois():
    return torch.tensor(
        [
            [0, 1.0, 2.0, 20.0, 13.0],  # inside
            [1, -6.0, -3.0, 9.0, 7.0],  # over the top-left border
            [0, 25.0, 14.0, 40.0, 30.0],  # past the bottom-right border
            [1, 4.0, 4.0, 4.5, 4.2],  # smaller than a pixel
            [0, 0.0, 0.0, 31.0, 23.0],  # the whole map at scale 1
        ]
    )


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("ratio", [0, 2])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_roi_align_matches_reference(aligned, ratio, scale):
    torch.manual_seed(0)
    feat = torch.randn(2, 3, 12, 16)
    rois = _rois()
    got = ops.roi_align(feat, rois, (3, 4), scale, ratio, aligned)
    want = reference_roi_align(feat, rois, 3, 4, scale, ratio, aligned)
    assert got.shape == (5, 3, 3, 4)
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=1e-5)


def test_roi_align_ext_calling_convention_writes_output():
    feat = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    rois = torch.tensor([[1, 0.0, 0.0, 6.0, 6.0]])
    output = feat.new_zeros((1, 1, 2, 2))
    empty = feat.new_zeros(0)
    ops.roi_align_forward(
        feat, rois, output, empty, empty, aligned_height=2, aligned_width=2, spatial_scale=1.0,
        sampling_ratio=0, pool_mode=1, aligned=True,
    )
    torch.testing.assert_close(output.double(), reference_roi_align(feat, rois, 2, 2, 1.0, 0, True))
    assert output[0, 0, 0, 0] > 36  # sampled from image 1, not image 0


def test_roi_align_one_channel_input_is_not_copied():
    """Mask targets pool (rows, 1, H, W) gt masks: the sparse mm reads them in place (it copied all rows x H x W
    first while their (N, 1) view kept a stride of H x W on its size-1 dim), with the same numbers."""
    feat = torch.rand(3, 1, 40, 48)
    rois = torch.tensor([[0, 2.0, 3.0, 30.0, 20.0], [2, 5.0, 1.0, 9.0, 39.0], [1, 0.0, 0.0, 47.0, 39.0]])
    output = feat.new_zeros((3, 1, 7, 7))
    empty = feat.new_zeros(0)
    with torch.profiler.profile(record_shapes=True) as prof:
        ops.roi_align_forward(feat, rois, output, empty, empty, 7, 7, 1.0, 0, 1, True)
    copied = [e.input_shapes for e in prof.events() if e.name == "aten::copy_" and e.input_shapes
              and e.input_shapes[0] and math.prod(e.input_shapes[0]) == feat.numel()]
    assert not copied
    torch.testing.assert_close(output.double(), reference_roi_align(feat, rois, 7, 7, 1.0, 0, True), rtol=1e-5, atol=1e-6)


def test_pool_taps_reads_a_uint8_input_with_the_float_numbers():
    """Mask targets of uint8 gt masks: only the bins' taps are cast, the sums those of the input cast whole."""
    from npuport.runtime.roi_align import pool_taps

    g = torch.Generator().manual_seed(0)
    masks = (torch.rand(6, 1, 50, 64, generator=g) < 0.5).to(torch.uint8)
    corner = torch.rand(40, 2, generator=g) * 60 - 5
    boxes = torch.cat([corner, corner + torch.rand(40, 2, generator=g) * 50], 1)  # many sampling grids, some past the edge
    rois = torch.cat([torch.randint(0, 6, (40, 1), generator=g).float(), boxes], 1)
    rois[:4, 1:] = 0  # empty boxes read nothing
    whole = masks.float().new_zeros((40, 1, 28, 28))
    empty = whole.new_zeros(0)
    ops.roi_align_forward(masks.float(), rois, whole, empty, empty, 28, 28, 1.0, 0, 1, True)
    taps = pool_taps(masks, rois, (28, 28), 1.0, 0, True)
    assert taps.dtype == torch.float32 and torch.equal(taps, whole) and whole[4:].sum() > 0 and not whole[:4].any()


def test_roi_align_gradcheck_float64():
    torch.manual_seed(1)
    feat = torch.randn(2, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 0.3, 0.7, 4.1, 3.9], [1, -1.2, 1.1, 6.5, 5.2]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: ops.roi_align(f, rois, (2, 3), 1.0, 0, True), (feat,))
    assert torch.autograd.gradcheck(lambda f: ops.roi_align(f, rois, (2, 2), 0.8, 2, False), (feat,))


def test_roi_align_backward_is_adjoint_of_forward():
    torch.manual_seed(2)
    feat = torch.randn(2, 4, 10, 9)
    rois = _rois()
    grad = torch.randn(5, 4, 3, 3)
    out = ops.roi_align(feat, rois, (3, 3), 0.5, 0, True)
    grad_input = feat.new_zeros(feat.shape)
    empty = feat.new_zeros(0)
    ops.roi_align_backward(grad, rois, empty, empty, grad_input, 3, 3, 0.5, 0, 1, True)
    # <A x, g> == <x, A^T g>
    torch.testing.assert_close((out * grad).sum(), (feat * grad_input).sum(), rtol=1e-4, atol=1e-4)


def test_roi_align_max_mode_raises_naming_the_op():
    empty = torch.zeros(0)
    with pytest.raises(ops.MissingOpError, match="roi_align"):
        ops.roi_align_forward(torch.zeros(1, 1, 4, 4), torch.zeros(1, 5), torch.zeros(1, 1, 2, 2), empty, empty, pool_mode=0)


# ------------------------------------------------------------------------ reference nms


def reference_nms(boxes, scores, thr, offset):
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    keep = []
    for i in order:
        ok = True
        for j in keep:
            xx1, yy1 = max(boxes[i][0], boxes[j][0]), max(boxes[i][1], boxes[j][1])
            xx2, yy2 = min(boxes[i][2], boxes[j][2]), min(boxes[i][3], boxes[j][3])
            inter = max(0.0, xx2 - xx1 + offset) * max(0.0, yy2 - yy1 + offset)
            area_i = (boxes[i][2] - boxes[i][0] + offset) * (boxes[i][3] - boxes[i][1] + offset)
            area_j = (boxes[j][2] - boxes[j][0] + offset) * (boxes[j][3] - boxes[j][1] + offset)
            if inter / (area_i + area_j - inter) >= thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("thr", [0.3, 0.6])
def test_nms_matches_reference(offset, thr):
    gen = torch.Generator().manual_seed(3)
    xy = torch.rand(60, 2, generator=gen) * 50
    wh = torch.rand(60, 2, generator=gen) * 20 + 1
    boxes = torch.cat([xy, xy + wh], dim=1)
    scores = torch.randperm(60, generator=gen).float() / 60  # distinct scores: one right order
    got = ops.nms(boxes, scores, iou_threshold=thr, offset=offset).tolist()
    assert got == reference_nms(boxes.tolist(), scores.tolist(), thr, offset)
    assert 1 < len(got) < 60


def test_nms_device_path_matches_cpu_path(monkeypatch):
    gen = torch.Generator().manual_seed(4)
    xy = torch.rand(40, 2, generator=gen) * 30
    boxes = torch.cat([xy, xy + 10], dim=1)
    scores = torch.rand(40, generator=gen)
    order = torch.sort(scores, descending=True, stable=True)[1]
    monkeypatch.setattr(ops, "NMS_CHUNK", 7)  # the IoU matrix in several row chunks
    matrix_path = order[box_ops._greedy_matrix(boxes[order], 0.5, 0)]
    assert ops.nms(boxes, scores, 0.5).tolist() == matrix_path.tolist()


def test_nms_empty():
    assert ops.nms(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0,)


def test_bbox_overlaps_against_nms_reference_iou():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 15.0, 15.0]])
    b = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0], [5.0, 0.0, 10.0, 10.0]])
    ious = a.new_zeros((2, 3))
    ops.bbox_overlaps(a, b, ious, mode=0, aligned=False, offset=0)
    torch.testing.assert_close(ious, torch.tensor([[1.0, 0.0, 0.5], [25 / 175, 0.0, 25 / 125]]))


# ------------------------------------------------------------------------- the ext table


def test_load_ext_missing_op_fails_only_when_called():
    ext = ops.load_ext("_ext", ["nms", "deform_conv_forward"])
    assert ext.nms is ops.nms
    with pytest.raises(ops.MissingOpError, match="deform_conv_forward"):
        ext.deform_conv_forward()
    assert ops.missing_ops(["nms", "deform_conv_forward"]) == ["deform_conv_forward"]


def test_roi_align_under_cpu_autocast_matches_float32():
    torch.manual_seed(5)
    feat = torch.randn(2, 3, 12, 16)
    rois = _rois()
    want = ops.roi_align(feat, rois, (3, 4), 0.5, 0, True)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        got = ops.roi_align(feat.bfloat16(), rois, (3, 4), 0.5, 0, True)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, atol=0.05, rtol=0.02)
