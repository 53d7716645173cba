"""scan() and port() on small trees written here, and on the real mmdet 2.10.0 / mmcv sdists (network)."""

from __future__ import annotations

import hashlib
import json
import os
import py_compile
import shutil
import tarfile
import textwrap
import urllib.request
from pathlib import Path

import pytest

from npuport.errors import UsageError
from npuport.rewriters import apply
from npuport.commands.scan import port, python_files, scan

# --- the real sdists: downloaded once, checked against their sha256, extracted per test ----------------

SDISTS = {
    "mmdet-2.10.0": ("https://files.pythonhosted.org/packages/43/fb/4315a1e4afdafb0f71b245a56a04404f4bef3be7d567"
                     "43c97bc7cb98d641/mmdet-2.10.0.tar.gz",
                     "5d913b86799fe93b6ceb481802466fb85d2cab676fa92607d06e97b05bc4b25a"),
    "mmcv-full-1.3.8": ("https://files.pythonhosted.org/packages/64/fa/b9fc21e63571d16620f28f6937626d5f8866ecd4"
                        "5a781f5d6c3fe2a9158f/mmcv-full-1.3.8.tar.gz",
                        "2b8dd40697a11b7061b5f54131999ac1cda4c4b02dfc60d7fc2c9a3fa484782e"),
    "mmcv-full-1.2.7": ("https://files.pythonhosted.org/packages/3a/82/420a5f4afc5763750d819659a7875ebd7656433"
                        "203d74af5e68a2657c2f6/mmcv-full-1.2.7.tar.gz",
                        "de8c864e5a5bb16b27dc055fee362fb64ca09ebda1347633ab3d9914ff96a6e7"),
    "mmcv-0.2.16": ("https://files.pythonhosted.org/packages/44/73/fb25fb8929db78d92558580c84f15269c3e2e5f0d37"
                    "3dfc4e86e8bf4b7b3/mmcv-0.2.16.tar.gz",
                    "a94396b38bd82b2a2e3be2851b7c5494341d6530d7545c6067c8bb181a8d1c33"),
}


def sdist(name: str, into: Path) -> Path:
    """The extracted sdist tree `into/<name>`, downloading to the test cache once (sha256 checked)."""
    url, sha256 = SDISTS[name]
    cache = Path(os.environ.get("NPUPORT_TEST_CACHE", Path.home() / ".cache" / "npuport-tests"))
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / url.rsplit("/", 1)[1]
    if not archive.exists() or hashlib.sha256(archive.read_bytes()).hexdigest() != sha256:
        staged = archive.with_suffix(".part")
        with urllib.request.urlopen(url, timeout=60) as response, open(staged, "wb") as out:
            shutil.copyfileobj(response, out)
        digest = hashlib.sha256(staged.read_bytes()).hexdigest()
        if digest != sha256:
            staged.unlink()
            raise AssertionError(f"{url}: sha256 {digest}, expected {sha256}")
        os.replace(staged, archive)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / name


# --- small trees ---------------------------------------------------------------------------------------

def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    _write(root, "train.py", """
        import torch


        def main(model, labels):
            model = model.cuda()
            torch.cuda.synchronize()
            pos = (labels > 0).nonzero()
            return model, pos
        """)
    _write(root, "pkg/util.py", """
        import numpy as np

        INT = np.int
        """)
    _write(root, "pkg/clean.py", "x = 1\n")
    _write(root, ".hidden/skip.py", "y = x.cuda()\n")
    _write(root, "build/lib/skip.py", "y = x.cuda()\n")
    return root


def test_python_files_skips_hidden_and_build(tree: Path) -> None:
    names = [p.relative_to(tree).as_posix() for p in python_files(tree)]
    assert names == ["train.py", "pkg/clean.py", "pkg/util.py"]


def test_scan_groups_sites_by_rule_and_file(tree: Path) -> None:
    report = scan(tree, workers=1)
    assert report.found
    grouped = report.by_rule()
    assert [s.line for s in grouped["NPU101"]["train.py"]] == [5]
    assert [s.line for s in grouped["NPU102"]["train.py"]] == [6]
    assert [s.line for s in grouped["NPU301"]["train.py"]] == [7]
    assert [s.line for s in grouped["NPU602"]["pkg/util.py"]] == [3]
    summary = report.summary()
    assert summary["files_scanned"] == 3 and summary["sites"] == 4 and summary["auto_fixable"] == 3
    assert summary["files_parsed"] == 2  # clean.py never parsed: no rule's trigger is in it
    doc = json.loads(report.to_json())
    assert doc["summary"]["sites"] == 4
    assert doc["by_rule"]["NPU301"]["fixable"] is False
    assert doc["by_rule"]["NPU101"]["files"]["train.py"][0]["line"] == 5
    text = report.format_text()
    assert "train.py:5:" in text and "[manual]" in text and "4 sites, 3 auto-fixable" in text


def test_scan_select_and_nothing_found(tree: Path) -> None:
    report = scan(tree, select=["NPU6"], workers=1)
    assert {s.rule for s in report.sites} == {"NPU602"}
    assert not scan(tree / "pkg" / "clean.py", workers=1).found
    with pytest.raises(UsageError):
        scan(tree, select=["NPU999"])
    with pytest.raises(UsageError, match="no such file"):
        scan(tree / "missing")


def test_scan_reports_unparseable_file_and_goes_on(tree: Path) -> None:
    _write(tree, "broken.py", "def f(:\n    x.cuda()\n")
    report = scan(tree, workers=1)
    assert len(report.errors) == 1 and "broken.py" in report.errors[0]
    assert report.by_rule()["NPU101"]["train.py"]


def test_pool_gives_the_same_report(tree: Path) -> None:
    for i in range(20):
        _write(tree, f"many/m{i}.py", f"import torch\nx{i} = torch.zeros(1).cuda({i})\n")
    one, two = scan(tree, workers=1), scan(tree, workers=2)
    assert one.sites == two.sites and len(one.sites) == 24


def test_port_diff_writes_nothing(tree: Path) -> None:
    before = {p: p.read_text() for p in python_files(tree)}
    report = port(tree, write=False, workers=1)
    assert {p: p.read_text() for p in python_files(tree)} == before
    assert report.files_changed == ["train.py", "pkg/util.py"]
    assert "--- a/train.py\n+++ b/train.py\n" in report.diff
    assert "+    model = model.to(npuport.runtime.current())" in report.diff
    assert "+INT = int" in report.diff
    assert report.summary()["fixes"] == 3
    assert json.loads(report.to_json())["diff"] == report.diff


def test_port_write_is_atomic_and_idempotent(tree: Path) -> None:
    (tree / "train.py").chmod(0o640)
    report = port(tree, write=True, workers=1)
    assert report.files_changed == ["train.py", "pkg/util.py"]
    text = (tree / "train.py").read_text()
    assert "npuport.runtime.synchronize()" in text and "import npuport.runtime" in text
    assert (tree / "train.py").stat().st_mode & 0o777 == 0o640
    assert not list(tree.rglob("*.npuport"))  # no staged file left behind
    again = port(tree, write=True, workers=1)
    assert again.files_changed == [] and again.summary()["fixes"] == 0
    assert scan(tree, select=["NPU101", "NPU102", "NPU602"], workers=1).sites == []


def test_scan_and_port_config_files(tmp_path: Path) -> None:
    """YAML / JSON settings are scanned beside the .py files; port writes npu/hccl in the direct flavour only;
    a big JSON (annotations) is not read."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "train.yaml").write_text("device: cuda\ndist:\n  backend: nccl  # multi-node\n")
    (tmp_path / "configs" / "run.json").write_text('{"device": "cuda:1", "name": "cuda"}\n')
    (tmp_path / "ann.json").write_text('{"device": "cuda", "pad": "' + "x" * (1 << 20) + '"}')
    report = scan(tmp_path, workers=1)
    assert sorted((s.rule, s.file, s.line, s.fixable) for s in report.sites) == [
        ("NPU103", "configs/run.json", 1, False), ("NPU103", "configs/train.yaml", 1, False),
        ("NPU104", "configs/train.yaml", 3, False)]
    assert report.files_scanned == 3 and report.files_parsed == 0
    assert port(tmp_path, write=True, workers=1).files_changed == []
    done = port(tmp_path, select=["NPU113,NPU114"], write=True, workers=1)
    assert sorted(done.files_changed) == ["configs/run.json", "configs/train.yaml"]
    assert (tmp_path / "configs" / "train.yaml").read_text() == "device: npu\ndist:\n  backend: hccl  # multi-node\n"
    assert (tmp_path / "configs" / "run.json").read_text() == '{"device": "npu:1", "name": "cuda"}\n'


def test_port_with_only_report_rules_is_a_usage_error(tree: Path) -> None:
    with pytest.raises(UsageError, match="scan"):
        port(tree, select=["NPU301"])


# --- real upstream code ------------------------------------------------------------------------------

@pytest.mark.network
def test_scan_real_mmdet_reports_dynamic_shapes_and_devices(tmp_path: Path) -> None:
    root = sdist("mmdet-2.10.0", tmp_path)
    report = scan(root, workers=2)
    grouped = report.by_rule()
    assert report.summary()["files_scanned"] > 200 and not report.errors
    assert len(grouped["NPU301"]) > 20  # nonzero / masks across the heads
    assert "mmdet/models/dense_heads/atss_head.py" in grouped["NPU301"]
    train = [s.line for s in grouped["NPU101"]["mmdet/apis/train.py"]]
    assert 79 in train and 85 in train  # model.cuda(), model.cuda(cfg.gpu_ids[0])
    assert [s.line for s in grouped["NPU102"]["mmdet/apis/train.py"]] == [31, 80]
    assert "mmdet/core/anchor/anchor_generator.py" in grouped["NPU103"]
    assert "mmdet/core/evaluation/mean_ap.py" in grouped["NPU602"]


@pytest.mark.network
def test_port_write_real_mmdet_still_compiles(tmp_path: Path) -> None:
    root = sdist("mmdet-2.10.0", tmp_path)
    report = port(root, write=True, workers=2)
    assert len(report.files_changed) >= 20 and not report.errors
    for file in python_files(root):
        py_compile.compile(str(file), doraise=True, cfile=str(tmp_path / "c.pyc"))
    assert not [s for s in scan(root, select=["NPU101", "NPU602"], workers=2).sites if s.fixable]


@pytest.mark.network
@pytest.mark.parametrize("name", ["mmcv-0.2.16", "mmcv-full-1.2.7", "mmcv-full-1.3.8"])
def test_mmcv_hooks_are_rewritten(tmp_path: Path, name: str) -> None:
    root = sdist(name, tmp_path)
    hooks = root / "mmcv" / "runner" / "hooks"
    optimizer, changes = apply((hooks / "optimizer.py").read_text(), ["NPU403"])
    assert [c.rule for c in changes] == ["NPU403"]  # OptimizerHook only, not the Fp16 hooks
    assert "scaler.unscale_(runner.optimizer)" in optimizer
    assert optimizer.index("scaler.unscale_") < optimizer.index("if self.grad_clip is not None")
    timer, changes = apply((hooks / "iter_timer.py").read_text(), ["NPU501"])
    assert len(changes) == 1 and "npuport.runtime.timing.record(runner)" in timer
    for text in (optimizer, timer):
        compile(text, name, "exec")
    assert apply(optimizer, ["NPU403"]) == (optimizer, [])
    assert apply(timer, ["NPU501"]) == (timer, [])


@pytest.mark.network
def test_compat_rules_fix_mmcv_0_2_16(tmp_path: Path) -> None:
    root = sdist("mmcv-0.2.16", tmp_path)
    report = port(root, select=["NPU6"], write=True, workers=1)
    assert "mmcv/parallel/collate.py" in report.files_changed  # collections.Sequence / Mapping
    assert "mmcv/runner/checkpoint.py" in report.files_changed  # import torchvision
    assert "collections.Sequence" not in (root / "mmcv/parallel/collate.py").read_text()
    assert scan(root, select=["NPU6"], workers=1).sites == []
