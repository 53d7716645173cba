"""genet: the driver's bookkeeping on a tiny model (always), and the recipe end to end on the real upstream
(BayesWatch/pytorch-GENet from a local snapshot, see conftest.github_mirror; skipped without one, as in CI)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, check_metrics, github_mirror, run_cli
from npuport.data.cifar10 import synth_cifar10
from npuport.drivers import genet_train
from npuport.results.fps import compute_fps, read_metrics

@pytest.fixture
def cpu(monkeypatch):
    from npuport import runtime

    monkeypatch.setenv("NPUPORT_DEVICE", "cpu")
    monkeypatch.setenv("NPUPORT_WARMUP_ITERS", "2")
    runtime.reset()
    yield
    runtime.reset()


def tiny_model(args):
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 10))


def test_driver_writes_metrics_and_run_file(tmp_path, cpu):
    synth_cifar10(tmp_path / "data", train=200, test=50)
    work = tmp_path / "work"
    args = genet_train.parse_args(["--work-dir", str(work), "--data-root", str(tmp_path / "data"), "--max-iters", "7",
                                   "--samples-per-device", "16", "--validate", "--amp", "O1"])
    summary = genet_train.train(args, model_factory=tiny_model)
    records = read_metrics(work / "npuport-metrics.jsonl")
    assert [r["iter"] for r in records] == list(range(1, 8))
    assert {(r["samples"], r["world_size"]) for r in records} == {(16, 1)}
    assert all(r["time"] > 0 and math.isfinite(r["loss"]) for r in records)
    run = json.loads((work / "npuport-run.json").read_text())
    assert run == summary
    assert run["iters"] == 7 and run["loss_first"] == records[0]["loss"] and run["loss_last"] == records[-1]["loss"]
    assert run["fps"] == pytest.approx(compute_fps(records, 2).fps)
    assert run["acc1"] * 50 / 100 == pytest.approx(round(run["acc1"] * 50 / 100))  # whole images out of 50
    assert 0 <= run["acc1"] <= 100 and run["amp"] == "bfloat16" and run["device"] == "cpu"
    assert set(run["versions"]) >= {"python", "torch"}


def test_epochs_and_lr_schedule(tmp_path, cpu):
    synth_cifar10(tmp_path / "data", train=100, test=10)
    args = genet_train.parse_args(["--work-dir", str(tmp_path / "w"), "--data-root", str(tmp_path / "data"),
                                   "--epochs", "2", "--samples-per-device", "30"])
    run = genet_train.train(args, model_factory=tiny_model)
    assert run["iters"] == 6 and run["epochs"] == 2 and run["acc1"] is None  # 3 whole batches of 30 per epoch
    assert (tmp_path / "w" / genet_train.CHECKPOINT_FILE).is_file()
    assert [genet_train.lr_at(i, 0.1, 0.2, [60, 120, 160]) for i in (0, 59, 60, 120, 199)] == pytest.approx(
        [0.1, 0.1, 0.02, 0.004, 0.0008])


def test_shards_are_disjoint_and_augmented(tmp_path):
    """Each image is filled with its own index: every batch of every rank is an index-disjoint shard."""
    n = 120
    images = np.repeat(np.arange(1, n + 1, dtype=np.uint8), 3 * 32 * 32).reshape(n, 3, 32, 32)
    labels = np.arange(n) % 10
    seen = []
    for rank in range(2):
        batches = genet_train.Batches(images, labels, 20, genet_train.Dist(rank, 2), seed=3)
        got = [im for x, _ in batches.epoch(0) for im in x]
        assert len(got) == batches.per_epoch * 20 == 60
        seen.append({int(im.max()) for im in got})
        for im in got:  # a 32x32 window of the zero-padded image: a border of zeros at most 4 px wide
            assert (im[:, 4:28, 4:28] == im.max()).all() and (im == 0).sum() <= 3 * (32 * 32 - 24 * 24)
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == n


def test_crop_is_a_window_of_the_padded_image():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8)
    out = genet_train.augment(images, np.random.default_rng(1))
    padded = np.pad(images, ((0, 0), (0, 0), (4, 4), (4, 4)))
    for src, got in zip(padded, out):
        windows = [w for oy in range(9) for ox in range(9) for w in (src[:, oy:oy + 32, ox:ox + 32],
                                                                      src[:, oy:oy + 32, ox:ox + 32][..., ::-1])]
        assert any((w == got).all() for w in windows)


def test_bad_arguments_are_usage_errors(tmp_path, capsys):
    assert genet_train.main(["--work-dir", str(tmp_path), "--data-root", str(tmp_path), "--depth", "12"]) == 2
    assert "6n+4" in capsys.readouterr().err
    assert genet_train.main(["--work-dir", str(tmp_path), "--data-root", str(tmp_path / "none")]) == 2
    assert "npuport data synth" in capsys.readouterr().err


# --- the real upstream, through the CLI ---------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def genet(tmp_path_factory):
    """The genet recipe set up once from the snapshot. Training passes `-- --depth 10 --width 2` to the driver,
    so the CPU runs take seconds (the recipe's model is the port's WRN-16-8)."""
    root = tmp_path_factory.mktemp("genet")
    mirror = github_mirror(root, "BayesWatch/pytorch-GENet")
    env = {"NPUPORT_CACHE": str(root / "cache"), "NPUPORT_MIRROR": ""}
    out = run_cli("setup", "genet", *mirror, "--workspace", str(root / "ws"), "--json", env=env, timeout=900)
    assert out.returncode == 0, out.stderr
    return root, env, mirror, json.loads(out.stdout)


@pytest.mark.slow
def test_verify_patches_on_the_real_upstream(genet):
    _, env, mirror, _ = genet
    out = run_cli("verify-patches", "genet", *mirror, "--json", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)["recipes"][0]
    assert report["status"] == "ok" and [s["id"] for s in report["steps"]] == ["pyproject"]


@pytest.mark.slow
def test_setup_installs_the_model_package(genet):
    root, _, _, res = genet
    assert res["changed"] and res["built"] and [s["status"] for s in res["steps"]] == ["applied"]
    assert (root / "ws" / "current" / "src" / "genet" / "models" / "blocks.py").is_file()
    probe = ("import genet, torch; m = genet.WideResNet(10, 1); "
             "print(tuple(m(torch.zeros(2, 3, 32, 32)).shape), genet.__file__)")
    out = subprocess.run([str(root / "ws" / "env" / "bin" / "python"), "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("(2, 10)") and "site-packages/genet/" in out.stdout


def train_genet(root, env, data, work, *args, npus=1, iters=8, warmup=None):
    first = [] if warmup is None else ["--warmup-iters", str(warmup)]
    return run_cli("train", "genet", "--workspace", str(root / "ws"), "--device", "cpu", "--data", str(data),
                   "--max-iters", str(iters), *first, "--npus", str(npus), "--master-port", str(free_port()),
                   "--work-dir", str(root / work), "--", "--depth", "10", "--width", "2", "--samples-per-device", "32",
                   *args, env=env, timeout=600)


@pytest.mark.slow
def test_training_beats_an_untrained_model(genet):
    """30 iterations of WRN-10-2 on 1000 generated images: Acc@1 on the 200 test images far above the model as
    initialised (one iteration at lr 0), which is chance (measured 44 % vs 10 %)."""
    root, env, _, _ = genet
    data = root / "cifar-small"
    synth_cifar10(data, train=1000, test=200)
    out = train_genet(root, env, data, "learn", "--validate", iters=30)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "npuport.drivers.genet_train" in out.stderr and "--depth 10 --width 2" in out.stderr
    res = json.loads((root / "learn" / "results.json").read_text())
    assert res["recipe"] == "genet" and res["world_size"] == 1
    check_metrics(root / "learn", res, world_size=1, iters=30, samples_per_device=32)
    assert "reference  npu     8p     16912.00  95.23" in out.stdout and f"{res['acc1']:.4g}" in out.stdout
    still = train_genet(root, env, data, "still", "--validate", "--lr", "0", iters=1, warmup=0)
    assert still.returncode == 0, still.stderr[-3000:]
    untrained = json.loads((root / "still" / "results.json").read_text())
    assert untrained["loss_first"] == res["loss_first"]  # the same initial weights and first batch
    assert res["acc1"] > untrained["acc1"] + 15, (res["acc1"], untrained["acc1"])
    assert untrained["acc1"] < 25  # chance is 10 % on 10 balanced classes


@pytest.mark.slow
def test_train_two_processes_on_the_real_upstream(genet):
    root, env, _, _ = genet
    work = root / "w2"
    out = train_genet(root, env, "synthetic", work.name, npus=2)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "npuport.drivers.genet_train" in out.stderr and "--depth 10 --width 2" in out.stderr
    res = json.loads((work / "results.json").read_text())
    assert res["recipe"] == "genet"
    check_metrics(work, res, world_size=2, iters=8, samples_per_device=32)
    assert res["losses_finite"] and math.isfinite(res["loss_first"]) and math.isfinite(res["loss_last"])
    assert "reference  npu     8p     16912.00  95.23" in out.stdout
    run = json.loads((work / "npuport-run.json").read_text())
    assert run["model"]["depth"] == 10 and run["versions"]["torch"] == res["versions"]["torch"]
    assert not os.path.exists(work / genet_train.CHECKPOINT_FILE)  # --max-iters runs save no checkpoint


@pytest.mark.slow
def test_two_nodes_on_loopback_train_genet_with_world_size_4(genet):
    """Two "nodes" on 127.0.0.1, two processes each, through `npuport train`: the real genet recipe."""
    root, env, _, _ = genet
    port = str(free_port())
    data = root / "cifar"
    synth_cifar10(data, train=512, test=128)
    common = ["train", "genet", "--workspace", str(root / "ws"), "--device", "cpu", "--data", str(data),
              "--max-iters", "7", "--npus", "2", "--nnodes", "2", "--master-addr", "127.0.0.1", "--master-port", port,
              "--connect-timeout", "120"]
    nodes = [subprocess.Popen([sys.executable, "-m", "npuport", *common, "--node-rank", str(r),
                               "--work-dir", str(root / f"node{r}"), "--", "--depth", "10", "--width", "1",
                               "--samples-per-device", "16"], cwd=REPO, env={**os.environ, **env},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (1, 0)]
    outs = [p.communicate(timeout=600) for p in nodes]
    for p, (so, se) in zip(nodes, outs):
        assert p.returncode == 0, (so + se)[-3000:]
    res = json.loads((root / "node0" / "results.json").read_text())
    assert res["losses_finite"]
    check_metrics(root / "node0", res, world_size=4, iters=7, samples_per_device=16)
    assert not (root / "node1" / "results.json").exists()  # only the node that ran rank 0 writes it
