"""Padded NMS (npuport.runtime.padded_nms): the boxes greedy NMS keeps, in its order, then padding of a fixed size;
mmcv's batched form; one static kernel in a census."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from npuport.runtime import ops  # noqa: E402
from npuport.runtime.census import Census  # noqa: E402
from npuport.runtime.padded_nms import batched_nms_padded, nms_padded  # noqa: E402


def boxes_and_scores(n, seed):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * 50
    boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=gen) * 20 + 1], dim=1)
    return boxes, torch.randperm(n, generator=gen).float() / n


@pytest.mark.parametrize("max_num", [5, 200])
def test_the_kept_boxes_first_then_padding_of_a_fixed_size(max_num):
    boxes, scores = boxes_and_scores(80, 1)
    kept = ops.nms(boxes, scores, 0.5)
    keep, valid = nms_padded(boxes, scores, 0.5, max_num)
    assert keep.shape == valid.shape == (max_num,)
    n = min(kept.numel(), max_num)
    assert 5 < kept.numel() < 80 and int(valid.sum()) == n and bool(valid[:n].all())
    assert keep[:n].tolist() == kept[:n].tolist() and not keep[n:].any()


def test_nothing_to_keep_is_all_padding():
    keep, valid = nms_padded(torch.zeros(0, 4), torch.zeros(0), 0.5, 4)
    assert keep.tolist() == [0, 0, 0, 0] and not valid.any()
    with pytest.raises(ValueError, match="max_num"):
        nms_padded(torch.zeros(0, 4), torch.zeros(0), 0.5, 0)


def test_batched_groups_never_suppress_each_other():
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    boxes = torch.cat([box, box + 1, box, box + 1])  # two near-duplicates in each of two groups
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    dets, valid = batched_nms_padded(boxes, scores, torch.tensor([0, 0, 1, 1]), 0.5, 6)
    assert dets.shape == (6, 5) and valid.tolist() == [True, True, False, False, False, False]
    assert dets[:2, 4].tolist() == pytest.approx([0.9, 0.7]) and dets[1, :4].tolist() == box[0].tolist()


def test_a_census_sees_one_static_kernel_with_the_same_shapes_every_time():
    census = Census(warmup=1)
    for seed in range(4):  # other boxes, other kept counts
        boxes, scores = boxes_and_scores(60 + seed, seed)
        boxes, scores = boxes[:60], scores[:60]
        census.begin()
        nms_padded(boxes, scores, 0.5, 50)
        census.end()
    report = census.report()
    assert [it["ops"] for it in report["iterations"]][1:] == [1, 1, 1]
    assert [it["dynamic"] + it["new_signatures"] for it in report["iterations"]][1:] == [0, 0, 0]
