"""solov2 end to end on the real upstreams (WXinlong/SOLO from a local snapshot, see conftest.github_mirror;
mmcv 0.2.16 from PyPI): every step proved, setup builds no CUDA extension, SOLOv2 trains with one process and
with two (gloo) through npuport.drivers.mmdet1_train, and a few iterations on a tiny set raise its mask mAP
(pycocotools) above an untrained model's. Skipped without a snapshot, as in CI (no GitHub there)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from conftest import check_metrics, github_mirror, run_cli, train_split_as_val, untrained_checkpoint
from npuport.data.coco import synth_coco
from npuport.drivers.mmdet1_train import IterLimit

SCALE = "128,128"
# SOLOv2 at CPU size: ResNet-18, a 64-channel FPN, two 64-channel head convs on grids of 12..4 cells and 32 mask
# kernels. The reference head (4 x 512 channels on grids of 40..12) costs ~30 s an iteration here at any image size.
SMALL = ["--cfg-options", "model.backbone.depth=18", "model.backbone.frozen_stages=-1",
         "model.neck.in_channels=[64,128,256,512]", "model.neck.out_channels=64", "model.bbox_head.in_channels=64",
         "model.bbox_head.stacked_convs=2", "model.bbox_head.seg_feat_channels=64",
         "model.bbox_head.num_grids=[12,10,8,6,4]", "model.bbox_head.ins_out_channels=32",
         "model.mask_feat_head.in_channels=64", "model.mask_feat_head.out_channels=32",
         "model.mask_feat_head.num_classes=32"]


def test_iter_limit_stops_across_epochs():
    loader = IterLimit(list(range(4)), 6)
    assert len(loader) == 4
    assert list(loader) == [0, 1, 2, 3] and list(loader) == [0, 1] and list(loader) == []
    assert loader.count(2) == 1  # everything else is the wrapped loader's (sampler, dataset, ...)


@pytest.fixture(scope="module")
def solov2(tmp_path_factory):
    """The solov2 recipe set up once from the mirror; PyPI archives come from the shared test cache."""
    root = tmp_path_factory.mktemp("solov2")
    mirror = github_mirror(root, "WXinlong/SOLO")
    cache = os.environ.get("NPUPORT_TEST_CACHE", str(Path.home() / ".cache" / "npuport-tests"))
    env = {"NPUPORT_CACHE": cache, "NPUPORT_MIRROR": ""}
    out = run_cli("setup", "solov2", *mirror, "--workspace", str(root / "ws"), "--json", env=env, timeout=1500)
    assert out.returncode == 0, out.stderr[-3000:]
    return root, env, mirror, json.loads(out.stdout)


def train(root, env, *args, work):
    return run_cli("train", "solov2", "--workspace", str(root / "ws"), "--device", "cpu", "--img-scale", SCALE,
                   "--work-dir", str(root / work), *args, env=env, timeout=1500)


@pytest.mark.network
@pytest.mark.slow
def test_verify_patches_on_the_real_upstream(solov2):
    _, env, mirror, _ = solov2
    out = run_cli("verify-patches", "solov2", *mirror, "--json", env=env, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["ok"] and [v["status"] for v in report["recipes"]] == ["ok"]
    steps = report["recipes"][0]["steps"]
    applied = [s for s in steps if s["status"] != "skipped"]
    assert {s["status"] for s in applied} == {"applied"} and len(applied) == 13
    assert [s["id"] for s in steps if s["status"] == "skipped"] == ["mmcv-log-memory-0.2"]  # the <0.2.16 layout's
    assert "solo-portable-ops" in {s["id"] for s in steps}


@pytest.mark.network
@pytest.mark.slow
def test_setup_builds_no_cuda_ops(solov2):
    root, _, _, res = solov2
    assert res["changed"] and res["built"] and {s["status"] for s in res["steps"]} == {"applied"}
    lock = json.loads((root / "ws" / "npuport.lock").read_text())
    assert [s["pin"].split("@")[0] for s in lock["sources"]][0] == "mmcv==0.2.16"
    site = next((root / "ws" / "env" / "lib").glob("python*/site-packages"))
    assert list((site / "mmcv").glob("_ext*.so"))  # mmcv's Cython flow-warp extension built with Cython 3
    assert not list((site / "mmdet" / "ops").rglob("*.so"))  # and nothing of mmdet/ops
    ops = (site / "mmdet" / "ops" / "nms" / "nms_wrapper.py").read_text()
    # NPU607's redirect, one import line each as upstream had them
    assert "from npuport.runtime.mmdet_ops import nms_cpu, nms_cuda\nfrom npuport.runtime.mmdet_ops import soft_nms_cpu\n" in ops


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("npus", [1, 2])
def test_train_on_the_real_upstream(solov2, npus):
    root, env, _, _ = solov2
    data = ["--data", "synthetic"] if npus == 1 else ["--data", str(root / "w1" / "data")]
    if npus == 2 and not (root / "w1" / "data").is_dir():
        data = ["--data", "synthetic"]
    out = train(root, env, *data, "--max-iters", "6", "--npus", str(npus), work=f"w{npus}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "npuport.drivers.mmdet1_train" in out.stderr  # the exact command, printed first
    res = json.loads((root / f"w{npus}" / "results.json").read_text())
    assert res["recipe"] == "solov2" and res["device"] == "cpu" and res["world_size"] == npus
    assert res["iters"] == 6 and res["warmup_iters"] == 5 and res["fps"] > 0
    assert math.isfinite(res["loss_first"]) and math.isfinite(res["loss_last"])
    assert res["versions"]["mmcv"] == "0.2.16" and res["versions"]["mmdet"].startswith("1.0.0")
    # images per device (not mmdet 1.x's count of shares), world size, and FPS from the metrics file
    check_metrics(root / f"w{npus}", res, world_size=npus, iters=6, samples_per_device=2)
    assert "reference  gpu     1p      8.10" in out.stdout


def evaluate(root, env, checkpoint, data):
    out = run_cli("eval", "solov2", "--workspace", str(root / "ws"), "--device", "cpu", "--img-scale", SCALE,
                  "--checkpoint", str(checkpoint), "--data", str(data), "--json", "--", *SMALL, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


@pytest.mark.network
@pytest.mark.slow
def test_training_beats_an_untrained_model(solov2):
    """30 iterations on 4 images raise the mask mAP on those images above a fresh model's (which finds nothing)."""
    root, env, _, _ = solov2
    synth_coco(root / "tiny-src", images=4, size=128, val_images=1)
    data = train_split_as_val(root / "tiny-src", root / "tiny")
    out = train(root, env, "--data", str(data), "--max-iters", "30", "--save-checkpoint", "--", "--lr", "0.01",
                "--lr-warmup-iters", "0", "--workers", "0", "--validate", "--log-interval", "1", *SMALL, work="learn")
    assert out.returncode == 0, out.stderr[-3000:]
    # mmcv's text logger at every iteration (its memory field is a device's: none on the CPU, no KeyError)
    log = next((root / "learn").glob("*.log")).read_text()
    assert [line.split("Epoch ")[1].split("\t")[0] for line in log.splitlines() if "Epoch [" in line] == [
        f"[{i // 2 + 1}][{i % 2 + 1}/2]" for i in range(30)] and "memory" not in log
    res = json.loads((root / "learn" / "results.json").read_text())
    trained = res["segm_mAP"]
    assert "bbox_mAP" not in res  # SOLO predicts masks, no boxes: no bbox mAP is made up
    assert "segm_mAP" in out.stdout and f"{trained:.4g}" in out.stdout  # beside the reference's 34.8
    init = untrained_checkpoint(root / "ws", "solov2", root / "init.pth", SMALL[1:])
    untrained = evaluate(root, env, init, data)
    again = evaluate(root, env, root / "learn" / "epoch_15.pth", data)  # 30 iterations of 2 batches an epoch
    assert again["images"] == 4 and again["segm_mAP"] == pytest.approx(trained)  # eval reproduces --validate
    assert trained > untrained["segm_mAP"] and again["segm_mAP_50"] > 0, (trained, untrained)


@pytest.mark.network
@pytest.mark.slow
def test_profile_of_the_static_loss(solov2):
    """The static-loss step: no data-dependent op and no host read in the step but one per image (the ground truth's
    copy to the host, where the targets are built) and the stacked loss read; no int64 op, and no new signature
    after the warm-up iterations (the second adds SGD's momentum buffers) whatever the images' instance counts."""
    root, env, _, _ = solov2
    data = root / "w1" / "data"
    out = run_cli("profile", "solov2", "--workspace", str(root / "ws"), "--device", "cpu", "--img-scale", SCALE,
                  "--iters", "4", "--warmup", "2", "--data", str(data) if data.is_dir() else "synthetic",
                  "--work-dir", str(root / "prof"), "--json", env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["measured"]["dynamic"] == 0 and report["measured"]["syncs"] <= 5
    assert not [s for s in report["sites"]["syncs"] if "solov2_head.py" in s["site"] and s["op"] != "Tensor.cpu"]
    # int32 focal-loss labels and a float instance count; the gt padded on the host (PadGroundTruth)
    assert report["measured"]["int64_max"] == 0 and report["measured"]["new_signatures_max"] == 0, report["iterations"]
