"""Shared fixtures: every test gets its own cache and workspace root; network tests share one download cache."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from npuport.data.coco import train_split_as_val  # noqa: F401  (the learning tests' data)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUPORT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NPUPORT_WORKSPACE", str(tmp_path / "workspaces"))
    monkeypatch.setenv("NPUPORT_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("NPUPORT_MIRROR", raising=False)


@pytest.fixture
def shared_cache(monkeypatch) -> Path:
    """A download cache kept between test runs (real PyPI archives are fetched once)."""
    path = Path(os.environ.get("NPUPORT_TEST_CACHE", Path.home() / ".cache" / "npuport-tests"))
    path.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("NPUPORT_CACHE", str(path))
    return path


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 600):
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "npuport", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd or REPO, timeout=timeout)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


MIRRORS_ENV = "NPUPORT_TEST_MIRRORS"
BUNDLES = REPO.parent / "shared" / "upstreams"  # git bundles of the git-only upstreams at their pins (read-only)


def github_mirror(tmp: Path, *repos: str) -> list[str]:
    """`--mirror` arguments that serve GitHub repositories ("owner/name") from local git.

    From $NPUPORT_TEST_MIRRORS when set (snapshots as `owner+name/repo`, a bare git dir or a clone whose .git
    is used), else from the bundles in ../shared/upstreams (`owner+name.bundle`, cloned bare into `tmp`, never
    written to), as in CI. Tests that need a repository skip, saying why, when neither has it."""
    root = os.environ.get(MIRRORS_ENV)
    for repo in repos:
        link = tmp / "gh" / f"{repo}.git"
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists():
            continue
        if root:
            snap = Path(root) / repo.replace("/", "+") / "repo"
            git_dir = snap / ".git" if (snap / ".git").is_dir() else snap
            if not (git_dir / "HEAD").exists():
                pytest.skip(f"no snapshot of {repo} at {snap}")
            link.symlink_to(git_dir)
            continue
        bundle = BUNDLES / f"{repo.replace('/', '+')}.bundle"
        if not bundle.is_file():
            pytest.skip(f"no git bundle of {repo} at {bundle}; set {MIRRORS_ENV} to a folder of git snapshots "
                        "(owner+name/repo) to test git-only upstreams")
        subprocess.run(["git", "clone", "--quiet", "--bare", "--branch", "pinned", str(bundle), str(link)],
                       check=True, capture_output=True, timeout=300)
    return ["--mirror", f"https://github.com/=file://{tmp / 'gh'}/"]


def check_metrics(work: Path, res: dict, *, world_size: int, iters: int, samples_per_device: int) -> list[dict]:
    """results.json agrees with the metrics file rank 0 wrote (npuport.results.fps): one record per iteration,
    numbered 1..iters, each of `samples_per_device` images and this world size; FPS = samples per device x
    world size / seconds over the records after the warm-up, and those seconds are the timed seconds reported."""
    records = [json.loads(line) for line in (work / "npuport-metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records] == list(range(1, iters + 1))
    assert {r["world_size"] for r in records} == {world_size} and res["world_size"] == world_size
    assert [r["samples"] for r in records] == [samples_per_device] * iters
    assert res["iters"] == iters and res["samples_per_device"] == samples_per_device
    timed = records[res["warmup_iters"]:]
    assert res["iters_timed"] == len(timed) == iters - res["warmup_iters"] > 0
    seconds = math.fsum(r["time"] for r in timed)
    assert seconds > 0 and res["seconds_timed"] == pytest.approx(seconds, rel=1e-9)
    assert res["fps"] == pytest.approx(samples_per_device * len(timed) * world_size / seconds, rel=1e-9)
    return records



UNTRAINED = """
import sys, torch
from mmdet.models import build_detector
from npuport.drivers import mmdet_common as common
config, overrides, out, *options = sys.argv[1:]
cfg = common.load_config(config, None, options, overrides or None)
cfg.model.pretrained = None
torch.manual_seed(0)
model = build_detector(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
torch.save({"state_dict": model.state_dict(), "meta": {}}, out)
"""


def untrained_checkpoint(workspace: Path, recipe: str, out: Path, options: list[str]) -> Path:
    """A freshly initialised detector of `recipe`'s config with --cfg-options `options`, saved as a checkpoint
    (what `npuport eval` takes), built in the workspace's environment."""
    from npuport.recipe import load

    from npuport.workspace import Workspace

    r = load(recipe)
    config, *overrides = r.train.config_files(r.folder, Workspace(workspace).src)
    made = subprocess.run([str(workspace / "env" / "bin" / "python"), "-c", UNTRAINED, config, (overrides or ["", ""])[1],
                           str(out), *options], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    return out


def untrained_map(workspace: Path, recipe: str, data: Path, options: list[str], env: dict, scale: str) -> dict:
    """`npuport eval`'s metrics of a freshly initialised `recipe` (--cfg-options `options`, seed 0) on `data`:
    what a learning test's trained model must beat."""
    init = untrained_checkpoint(workspace, recipe, workspace.parent / "init.pth", options)
    still = run_cli("eval", recipe, "--workspace", str(workspace), "--device", "cpu", "--img-scale", scale,
                    "--checkpoint", str(init), "--data", str(data), "--score-thr", "0", "--json", "--",
                    "--cfg-options", *options, env=env, timeout=900)
    assert still.returncode == 0, still.stderr[-3000:]
    return json.loads(still.stdout)
