"""MaxIoUAssigner's passes a block of boxes at a time (npuport.runtime.max_iou): the single call's numbers."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from npuport.runtime import max_iou  # noqa: E402


class BboxOverlaps2D:
    """IoU in one broadcast call, corners as (..., 2) pairs: the layout of mmdet 2.x's plain calculator."""

    def __call__(self, gts, boxes):
        gts, boxes = gts[:, :4], boxes[:, :4]
        gt_area = (gts[:, 2] - gts[:, 0]) * (gts[:, 3] - gts[:, 1])
        box_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        lt = torch.max(gts[:, None, :2], boxes[None, :, :2])
        rb = torch.min(gts[:, None, 2:], boxes[None, :, 2:])
        wh = (rb - lt).clamp(min=0)
        overlap = wh[..., 0] * wh[..., 1]
        union = torch.max(gt_area[:, None] + box_area[None, :] - overlap, gts.new_tensor([1e-6]))
        return overlap / union


class Scaled(BboxOverlaps2D):
    """Another calculator (its own attribute): called per block."""

    def __init__(self):
        self.scale = 2.0


def boxes(n, size, generator, grid=None):
    corner = torch.rand(n, 2, generator=generator) * size
    box = torch.cat([corner, corner + torch.rand(n, 2, generator=generator) * size / 2 + 1], 1)
    if grid is not None:  # some boxes on the grid: equal IoUs, ties for the maxima
        box[: n // 2] = grid[torch.randint(0, len(grid), (n // 2,), generator=generator)]
    return box


def problem(real=3, pad=100, anchors=10000, seed=0):
    g = torch.Generator().manual_seed(seed)
    step = torch.arange(0, 320, 8.0)
    xs, ys = torch.meshgrid(step, step, indexing="xy")
    grid = torch.stack([xs.reshape(-1), ys.reshape(-1), xs.reshape(-1) + 16, ys.reshape(-1) + 16], 1)
    anchor = torch.cat([grid, boxes(anchors - len(grid), 320, g)])
    gts = torch.cat([boxes(real, 320, g, grid), torch.full((pad - real, 4), -1e4)])  # padding: far-away empty boxes
    return gts, anchor


@pytest.mark.parametrize("real,chunk", [(3, 4096), (12, 1000), (0, 4096), (100, 3000)])
def test_overlaps_and_maxima_are_the_single_calls(real, chunk):
    gts, anchors = problem(real)
    whole = BboxOverlaps2D()(gts, anchors)
    got = max_iou.overlaps(BboxOverlaps2D(), gts, anchors, chunk)
    assert torch.equal(got, whole)
    assert torch.equal(max_iou.overlaps(Scaled(), gts, anchors, chunk), whole)  # per block through the calculator
    box_max, box_arg, gt_max, gt_arg = max_iou.maxima(whole, chunk)
    assert gt_arg.dtype == torch.int32  # no int64 arithmetic for the blocks' offsets
    for a, b in zip((box_max, box_arg, gt_max, gt_arg.long()), (*whole.max(dim=0), *whole.max(dim=1))):
        assert torch.equal(a, b)
    if real < 100:  # the padded gts overlap nothing: every anchor ties at 0, the first index wins
        assert (gt_arg[real:] == 0).all()


def test_ties_across_blocks_keep_the_first_index():
    overlaps = torch.zeros(3, 10)
    overlaps[0, [2, 7]] = 0.5  # a tie in two blocks of 4
    overlaps[1, [6, 9]] = 0.25  # within the second and third block
    overlaps[2, 9] = 1.0
    _, _, gt_max, gt_arg = max_iou.maxima(overlaps, 4)
    assert gt_arg.tolist() == [2, 6, 9] and gt_max.tolist() == [0.5, 0.25, 1.0]


@pytest.mark.parametrize("assign_all", [True, False])
def test_last_claims_are_the_static_assigners(assign_all):
    gts, anchors = problem(12, seed=1)
    overlaps = BboxOverlaps2D()(gts, anchors)
    gt_max, gt_arg = overlaps.max(dim=1)
    if assign_all:
        claims = overlaps == gt_max[:, None]
    else:
        claims = torch.arange(overlaps.size(1))[None, :] == gt_arg[:, None]
    claims = claims & (gt_max >= 0.3)[:, None]
    numbers = torch.arange(1, len(gts) + 1, dtype=torch.int32)[:, None]
    want = (claims.int() * numbers).max(dim=0)[0]
    got = max_iou.last_claims(overlaps, gt_max, gt_arg.int(), 0.3, assign_all, 1000)
    assert got.dtype == torch.int32 and torch.equal(got, want)
    assert (got > 0).any() and (got == 0).any()


def test_no_sync_no_dynamic_no_int64():
    from npuport.runtime.census import Census

    gts, anchors = problem(3)
    census = Census(warmup=0)
    census.begin()
    overlaps = max_iou.overlaps(BboxOverlaps2D(), gts, anchors, 4096)
    _, _, gt_max, gt_arg = max_iou.maxima(overlaps, 4096)
    for assign_all in (True, False):
        max_iou.last_claims(overlaps, gt_max, gt_arg, 0.3, assign_all, 4096)
    census.end()
    measured = census.report()["measured"]
    assert measured["ops"] > 30 and (measured["dynamic"], measured["syncs"], measured["int64"]) == (0, 0, 0)
