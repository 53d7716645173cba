"""Mask slots per batch (npuport.runtime.mask_slots): which sampled positives the mask head runs on."""
from __future__ import annotations

import types

import pytest

torch = pytest.importorskip("torch")

from npuport.errors import UsageError  # noqa: E402
from npuport.runtime import mask_slots  # noqa: E402
from npuport.runtime.census import Census  # noqa: E402


def result(positives, slots=8, gts=3, image=0):
    """A static sampler's result: `positives` valid slots first, labels -1 after them."""
    pos = torch.arange(slots) < positives
    boxes = torch.arange(slots * 4, dtype=torch.float32).view(slots, 4) + 100 * image
    gt_inds = (torch.arange(slots, dtype=torch.int32) % gts)
    labels = torch.where(pos, gt_inds + 10 * image, torch.full((), -1, dtype=torch.int32))
    return types.SimpleNamespace(pos_mask=pos, pos_bboxes=boxes, pos_assigned_gt_inds=gt_inds, pos_gt_labels=labels)


def test_every_positive_of_the_batch_when_they_fit():
    results = [result(3, image=0), result(5, image=1)]
    rois, labels, kept, image = mask_slots.batch_slots(results, [range(3), range(3)], 8)
    assert rois.shape == (8, 5) and labels.shape == (8,)
    got = sorted((int(i), int(r[1]) - 100 * int(i)) for i, r, lab in zip(image, rois, labels) if lab >= 0)
    assert got == [(0, 0), (0, 4), (0, 8), (1, 0), (1, 4), (1, 8), (1, 12), (1, 16)]  # all 8 positives, their boxes
    assert torch.equal(rois[:, 0], image.float())
    assert (rois[labels < 0, 1:] == 0).all()  # rows without a positive: empty boxes, nothing to pool
    for i, k in enumerate(kept):  # each image's mask targets read only its own rows' pixels
        assert ((k.pos_bboxes != 0).any(1) == ((image == i) & (labels >= 0))).all()
        # and its pos_mask names them, so a host-side target (mmdet 0.x's crops) skips the others
        assert k.pos_mask.dtype == torch.bool and torch.equal(k.pos_mask, (image == i) & (labels >= 0))
        assert int(k.pos_mask.sum()) == [3, 5][i]
    assert [len(r.pos_mask) for r in results] == [8, 8]  # the sampler's own results are left as they were
    assert [len(k.pos_bboxes) for k in kept] == [8, 8]


def test_beyond_the_slots_the_images_take_turns_in_their_order():
    results = [result(6, image=0), result(2, image=1), result(7, image=2)]
    rois, labels, kept, image = mask_slots.batch_slots(results, [range(3)] * 3, 6)
    assert (labels >= 0).all()
    rank = ((rois[:, 1] - 100 * image) / 4).int()
    # image 1 gives its 2, the others share the rest by rank: 2 each, their first ones
    assert sorted(zip(image.tolist(), rank.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]


def test_targets_from_the_rows_own_image_and_gt_indices_in_range():
    results = [result(2, gts=3, image=0), result(2, gts=5, image=1)]
    results[1].pos_assigned_gt_inds = results[1].pos_assigned_gt_inds + 2  # up to 6: beyond image 0's 3 masks
    _, _, kept, image = mask_slots.batch_slots(results, [range(3), range(7)], 4)
    assert int(kept[0].pos_assigned_gt_inds.max()) <= 2 and int(kept[1].pos_assigned_gt_inds.max()) <= 6
    targets = torch.stack([torch.full((4, 2, 2), 0.0), torch.full((4, 2, 2), 1.0)]).view(8, 2, 2)
    blended = mask_slots.blend_targets(targets, image, 2)
    assert torch.equal(blended[:, 0, 0], image.float())


def test_static_no_sync_no_dynamic_no_int64():
    results = [result(3, image=0), result(5, image=1)]
    census = Census(warmup=0)
    census.begin()
    mask_slots.batch_slots(results, [range(3), range(3)], 8)
    census.end()
    measured = census.report()["measured"]
    assert measured["ops"] > 10 and (measured["dynamic"], measured["syncs"], measured["int64"]) == (0, 0, 0)


@pytest.mark.parametrize("slots", [0, -4, 2.5, "40"])
def test_a_bad_slot_count_is_a_one_line_usage_error(slots):
    with pytest.raises(UsageError, match=r"^train_cfg\.rcnn\.mask_pos_slots: .* give a whole number >= 1 \(--cfg-options"):
        mask_slots.select([result(3)], slots)


def test_the_usage_error_names_the_config_s_own_option():
    """mmdet 0.x (gcnet-original) keeps train_cfg at the config's top level: the hint says how to set it there."""
    with pytest.raises(UsageError) as err:
        mask_slots.batch_slots([result(3)], [range(3)], -1, option="train_cfg.rcnn.mask_pos_slots")
    assert str(err.value) == ("train_cfg.rcnn.mask_pos_slots: -1 is not a row count; give a whole number >= 1 "
                              "(--cfg-options train_cfg.rcnn.mask_pos_slots=N)")
    with pytest.raises(UsageError, match=r"\(--cfg-options model\.train_cfg\.rcnn\.mask_pos_slots=N\)$"):
        mask_slots.select([result(3)], 0)  # mmdet 2.x's, the default


def test_usage_counts_the_rows_used_and_the_batch_s_positives():
    results = [result(6, image=0), result(2, image=1), result(7, image=2)]
    _, labels, _, _ = mask_slots.batch_slots(results, [range(3)] * 3, 6)
    used = mask_slots.usage(labels, results)
    assert {k: float(v) for k, v in used.items()} == {"mask_rows": 6.0, "mask_positives": 15.0}  # 9 left out
    _, labels, _, _ = mask_slots.batch_slots(results, [range(3)] * 3, 20)
    assert {k: float(v) for k, v in mask_slots.usage(labels, results).items()} == {"mask_rows": 15.0,
                                                                                   "mask_positives": 15.0}


def test_configured_finds_the_rows_where_each_mmdet_keeps_them():
    assert mask_slots.configured({"model": {"train_cfg": {"rcnn": {"mask_pos_slots": 128}}}}) == (
        "model.train_cfg.rcnn.mask_pos_slots", 128)
    assert mask_slots.configured({"train_cfg": {"rcnn": {"mask_pos_slots": 40}}}) == ("train_cfg.rcnn.mask_pos_slots", 40)
    assert mask_slots.configured({"model": {"train_cfg": {"rcnn": {}}}}) is None  # a dynamic tree
    assert mask_slots.configured({"train_cfg": None, "model": {"train_cfg": {"rcnn": {"mask_pos_slots": True}}}}) is None


class Bitmaps:
    """An image's gt masks as mmdet's BitmapMasks holds them: an (n, H, W) uint8 array and the size."""

    def __init__(self, masks):
        self.masks, self.height, self.width = masks, masks.shape[1], masks.shape[2]

    def __len__(self):
        return len(self.masks)


def per_image_targets(kept, gt_masks, size):
    """Each image's targets over all the rows, as gcnet's `static-mask-target` computes them."""
    from npuport.runtime.roi_align import roi_align

    out = []
    for res, masks in zip(kept, gt_masks):
        xs = res.pos_bboxes[:, [0, 2]].clamp(0, masks.width)
        ys = res.pos_bboxes[:, [1, 3]].clamp(0, masks.height)
        rois = torch.stack([torch.arange(len(xs)).float(), xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], dim=1)
        gathered = torch.from_numpy(masks.masks).index_select(0, res.pos_assigned_gt_inds).float()
        out.append((roi_align(gathered[:, None], rois, (size, size), 1.0, 0, True).squeeze(1) >= 0.5).float())
    return torch.cat(out)


def test_batch_targets_are_the_per_image_targets_blended():
    np = pytest.importorskip("numpy")
    rng = np.random.RandomState(0)
    gt_masks = []
    for count in (3, 5, 4):  # gt counts differ: each image's masks start further along the batch's
        masks = (rng.rand(count, 48, 64) < 0.5).astype(np.uint8)
        masks[:, 10:30, 8:40] = 1
        gt_masks.append(Bitmaps(masks))
    results = []
    for i, count in enumerate((3, 5, 4)):
        res = result([5, 7, 2][i], slots=8, gts=count, image=i)
        corner = torch.from_numpy(rng.rand(8, 2).astype(np.float32)) * 40 - 5  # some boxes cross the border
        res.pos_bboxes = torch.cat([corner, corner + torch.from_numpy(rng.rand(8, 2).astype(np.float32)) * 40 + 1], 1)
        results.append(res)
    rois, labels, kept, image = mask_slots.batch_slots(results, gt_masks, 12)
    want = mask_slots.blend_targets(per_image_targets(kept, gt_masks, 7), image, 3)
    census = Census(warmup=0)
    census.begin()
    got = mask_slots.batch_targets(rois, kept, image, gt_masks, 7)
    census.end()
    measured = census.report()["measured"]
    assert (measured["dynamic"], measured["syncs"], measured["int64"]) == (0, 0, 0)
    assert got.shape == (12, 7, 7) and torch.equal(got, want)
    assert got[labels >= 0].sum() > 0 and got[labels < 0].sum() == 0
    # masks of several sizes, or not bitmaps: None, the per-image targets then
    other = [gt_masks[0], Bitmaps(np.zeros((5, 48, 32), np.uint8)), gt_masks[2]]
    assert mask_slots.batch_targets(rois, kept, image, other, 7) is None
    assert mask_slots.batch_targets(rois, kept, image, [range(3)] * 3, 7) is None
