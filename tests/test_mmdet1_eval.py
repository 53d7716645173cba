"""npuport.drivers.mmdet1_eval without the trees: model outputs of SOLO and Mask R-CNN (mmdet 0.x / 1.x) become COCO
result records, and pycocotools scores them against a generated COCO set; --cfg-options set config keys."""

from __future__ import annotations

import json

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from pycocotools.coco import COCO

from npuport.data.coco import synth_coco
from npuport.drivers import mmdet_common as common
from npuport.drivers import mmdet_config
from npuport.drivers.mmdet1_eval import coco_map, records
from npuport.errors import UsageError


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    out = tmp_path_factory.mktemp("coco")
    synth_coco(out, images=2, size=64, val_images=1)
    return COCO(str(out / "annotations" / "instances_train2017.json"))


def truth(coco, img_id):
    """The ground truth of one image: (masks, category indices among coco's categories, boxes x1 y1 x2 y2)."""
    cat_ids = coco.getCatIds()
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
    masks = np.stack([coco.annToMask(a) for a in anns])
    labels = [cat_ids.index(a["category_id"]) for a in anns]
    boxes = [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2] - 1, a["bbox"][1] + a["bbox"][3] - 1] for a in anns]
    return masks, labels, boxes


def test_solo_masks_of_the_truth_score_1_and_shifted_ones_less(coco):
    cat_ids = coco.getCatIds()
    dets = []
    for img_id in coco.getImgIds():
        masks, labels, _ = truth(coco, img_id)
        out = [(torch.from_numpy(masks).bool(), torch.tensor(labels), torch.full((len(labels),), 0.9))]
        dets += records(out, img_id, cat_ids)["segm"]
    assert {d["category_id"] for d in dets} <= set(cat_ids) and all(isinstance(d["segmentation"]["counts"], str)
                                                                    for d in dets)
    exact = coco_map(coco, coco.getImgIds(), dets, "segm")
    assert exact["segm_mAP"] == pytest.approx(1.0) and "empty_results" not in exact
    shifted = []
    for d in dets:
        mask = np.roll(mask_util.decode(d["segmentation"]), 4, axis=1)
        rle = mask_util.encode(np.asfortranarray(mask[:, :, None]))[0]
        shifted.append({**d, "segmentation": {"size": d["segmentation"]["size"], "counts": rle["counts"].decode()}})
    assert coco_map(coco, coco.getImgIds(), shifted, "segm")["segm_mAP"] < 0.9


def test_solo_image_without_detections_and_no_detection_at_all(coco):
    assert records([None], 1, coco.getCatIds()) == {"bbox": [], "segm": []}
    assert coco_map(coco, coco.getImgIds(), [], "segm") == {
        "segm_mAP": 0.0, "segm_mAP_50": 0.0, "segm_mAP_75": 0.0, "empty_results": True}


def test_mask_rcnn_boxes_and_masks_per_class(coco):
    cat_ids = coco.getCatIds()
    found = {"bbox": [], "segm": []}
    for img_id in coco.getImgIds():
        masks, labels, boxes = truth(coco, img_id)
        per_class = [np.zeros((0, 5), np.float32) for _ in cat_ids]
        segms = [[] for _ in cat_ids]
        for mask, label, box in zip(masks, labels, boxes):
            per_class[label] = np.vstack([per_class[label], [*box, 0.8]]).astype(np.float32)
            segms[label].append(mask_util.encode(np.asfortranarray(mask[:, :, None]))[0])  # counts as bytes
        for kind, rows in records((per_class, segms), img_id, cat_ids).items():
            found[kind] += rows
    assert len(found["bbox"]) == len(found["segm"]) == len(coco.getAnnIds())
    assert coco_map(coco, coco.getImgIds(), found["bbox"], "bbox")["bbox_mAP"] == pytest.approx(1.0)
    assert coco_map(coco, coco.getImgIds(), found["segm"], "segm")["segm_mAP"] == pytest.approx(1.0)
    json.dumps(found)  # what pycocotools loads is plain JSON


def test_cfg_options_set_nested_keys_as_literals():
    cfg = {"model": {"bbox_head": {"num_grids": [40, 36]}, "pretrained": "x"}, "optimizer": {"lr": 0.01}}
    for option in ("model.bbox_head.num_grids=[12,10]", "optimizer.lr=0.02", "model.pretrained=None",
                   "model.bbox_head.type=SOLOv2Head"):
        mmdet_config.set_option(cfg, option)
    assert cfg == {"model": {"bbox_head": {"num_grids": [12, 10], "type": "SOLOv2Head"}, "pretrained": None},
                   "optimizer": {"lr": 0.02}}
    for bad, words in [("model.bbox_head", "KEY=VALUE"), ("model.neck.out_channels=64", "no dict model.neck")]:
        with pytest.raises(UsageError, match=words):
            mmdet_config.set_option(cfg, bad)


def test_eval_of_the_mmdet1_recipes_checks_its_inputs_first(tmp_path):
    """solov2 and gcnet-original have an evaluation entry now; bad input is one line and exit 2, before any work."""
    from conftest import run_cli

    for name in ("solov2", "gcnet-original"):
        out = run_cli("eval", name, "--checkpoint", str(tmp_path / "missing.pth"), "--data", str(tmp_path))
        assert out.returncode == 2 and "--checkpoint" in out.stderr and "no such file" in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    out = run_cli("eval", "genet", "--checkpoint", str(tmp_path / "missing.pth"), "--data", str(tmp_path))
    assert out.returncode == 2 and "no evaluation entry" in out.stderr


def test_lr_and_warmup_overrides_from_the_driver_command_line():
    from types import SimpleNamespace

    from npuport.drivers.mmdet_train import parse_args

    cfg = SimpleNamespace(optimizer=SimpleNamespace(lr=0.02), lr_config=SimpleNamespace(warmup="linear", warmup_iters=500))
    common.apply_schedule(cfg, parse_args(["c.py", "--work-dir", "w"]))  # nothing asked, nothing changed
    assert (cfg.optimizer.lr, cfg.lr_config.warmup, cfg.lr_config.warmup_iters) == (0.02, "linear", 500)
    common.apply_schedule(cfg, parse_args(["c.py", "--work-dir", "w", "--lr", "0.005", "--lr-warmup-iters", "20"]))
    assert (cfg.optimizer.lr, cfg.lr_config.warmup, cfg.lr_config.warmup_iters) == (0.005, "linear", 20)
    common.apply_schedule(cfg, parse_args(["c.py", "--work-dir", "w", "--lr-warmup-iters", "0"]))
    assert cfg.lr_config.warmup is None
    with pytest.raises(UsageError, match="--lr -1"):
        common.apply_schedule(cfg, parse_args(["c.py", "--work-dir", "w", "--lr", "-1"]))
