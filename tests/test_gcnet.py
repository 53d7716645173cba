"""gcnet end to end, as a user runs it: setup from the real PyPI sdists, train on generated COCO data with one
process and with two (gloo), results.json, eval with pycocotools, and the one-line errors."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from conftest import run_cli

pytestmark = [pytest.mark.network, pytest.mark.slow]

SCALE = "256,256"


@pytest.fixture(scope="module")
def gcnet(tmp_path_factory):
    """A gcnet workspace set up once for this module; archives come from the shared test cache."""
    root = tmp_path_factory.mktemp("gcnet")
    cache = os.environ.get("NPUPORT_TEST_CACHE", str(Path.home() / ".cache" / "npuport-tests"))
    env = {"NPUPORT_CACHE": cache}
    out = run_cli("setup", "gcnet", "--workspace", str(root / "ws"), "--json", env=env, timeout=1500)
    assert out.returncode == 0, out.stderr
    return root, env, json.loads(out.stdout)


def train(root, env, *args, work="w1"):
    return run_cli("train", "gcnet", "--workspace", str(root / "ws"), "--device", "cpu", "--img-scale", SCALE,
                   "--work-dir", str(root / work), *args, env=env, timeout=1500)


def test_setup_patches_and_builds(gcnet):
    root, env, res = gcnet
    assert res["changed"] and res["built"]
    assert {s["status"] for s in res["steps"]} == {"applied"}
    lock = json.loads((root / "ws" / "npuport.lock").read_text())
    assert [s["pin"] for s in lock["sources"]] == ["mmcv-full==1.3.8", "mmdet==2.10.0"]
    again = run_cli("setup", "gcnet", "--workspace", str(root / "ws"), "--json", env=env)
    warm = json.loads(again.stdout)
    assert again.returncode == 0 and warm["changed"] is False and warm["built"] is False
    assert warm["lock_hash"] == res["lock_hash"]


def test_train_one_process(gcnet):
    root, env, _ = gcnet
    out = train(root, env, "--data", "synthetic", "--max-iters", "8")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "+ " in out.stderr and "npuport.drivers.mmdet_train" in out.stderr  # the exact command, printed first
    res = json.loads((root / "w1" / "results.json").read_text())
    assert res["recipe"] == "gcnet" and res["device"] == "cpu" and res["world_size"] == 1
    assert res["iters"] == 8 and res["warmup_iters"] == 5 and res["fps"] > 0
    assert math.isfinite(res["loss_first"]) and math.isfinite(res["loss_last"])
    assert res["versions"]["mmcv"] == "1.3.8" and res["versions"]["mmdet"] == "2.10.0"
    assert len(res["lock_hash"]) == 64
    assert "reference  gpu     1p      8.47" in out.stdout


def test_eval_reports_map(gcnet):
    root, env, _ = gcnet
    ckpt = root / "w1" / "iter_8.pth"
    out = run_cli("eval", "gcnet", "--checkpoint", str(ckpt), "--data", str(root / "w1" / "data"),
                  "--workspace", str(root / "ws"), "--device", "cpu", "--img-scale", SCALE, "--score-thr", "0",
                  "--json", env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads(out.stdout)
    assert 0.0 <= metrics["bbox_mAP"] <= 1.0 and 0.0 <= metrics["segm_mAP"] <= 1.0


def test_train_two_processes_gloo(gcnet):
    root, env, _ = gcnet
    out = train(root, env, "--data", str(root / "w1" / "data"), "--max-iters", "7", "--npus", "2", work="w2")
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads((root / "w2" / "results.json").read_text())
    assert res["world_size"] == 2 and res["iters"] == 7 and res["fps"] > 0
    assert math.isfinite(res["loss_last"])


def test_bad_input_is_one_line_exit_2(gcnet, tmp_path):
    root, env, _ = gcnet
    for args, words in [
        (["--data", str(tmp_path / "missing")], "--data"),
        (["--data", str(tmp_path)], "not a coco data set"),
        (["--device", "tpu"], "tpu"),
    ]:
        out = train(root, env, *args, "--max-iters", "1")
        assert out.returncode == 2, out.stderr
        assert words in out.stderr
    out = run_cli("train", "gcnet", "--workspace", str(tmp_path / "nows"), "--max-iters", "1", env=env)
    assert out.returncode == 2 and "npuport setup gcnet" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
