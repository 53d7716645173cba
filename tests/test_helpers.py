"""The one-job helpers: atomic writes, subprocesses, unified diffs, the run contract."""

from __future__ import annotations

import json
import os
import sys

import pytest

from npuport import atomic, contract, proc
from npuport.errors import CheckFailed, SourceError
from npuport.patches.unidiff import apply, parse, unified_diff
from npuport.sources.pypi import sdist_links, sdists


def test_write_text_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "f.sh"
    path.write_text("old\n")
    atomic.write_text(path, "new\n", mode=0o755)
    assert path.read_text() == "new\n" and os.stat(path).st_mode & 0o777 == 0o755
    atomic.write_json(tmp_path / "d.json", {"b": 1, "a": float("nan")}, indent=1, sort_keys=True)
    assert (tmp_path / "d.json").read_text() == '{\n "a": NaN,\n "b": 1\n}\n'
    with pytest.raises(ValueError):
        atomic.write_json(path, {"a": float("nan")}, allow_nan=False)
    assert path.read_text() == "new\n"  # a failed write leaves the old file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json", "f.sh"]


def test_run_fails_in_one_line_naming_the_command_and_its_log(tmp_path):
    shown = []
    log = tmp_path / "failed.log"
    with pytest.raises(CheckFailed) as err:
        proc.run([sys.executable, "-c", "import sys; print('out'); sys.exit('the reason')"], what="build of demo",
                 extra_env={"X": "1"}, log_file=log, echo=shown.append)
    assert shown == [f"+ X=1 {sys.executable} -c 'import sys; print('\"'\"'out'\"'\"'); sys.exit('\"'\"'the reason'\"'\"')'"]
    message = str(err.value)
    assert message.startswith("build of demo failed at `X=1 ") and message.endswith(f": the reason (full log: {log})")
    assert "\n" not in message and "out" in log.read_text()
    assert proc.run([sys.executable, "-c", "import sys; sys.exit(3)"], what="probe", check=False).returncode == 3
    with pytest.raises(SourceError, match="git source: no-such-program-npuport is not installed"):
        proc.run(["no-such-program-npuport"], what="git source", error=SourceError)


def test_unified_diff_round_trips_and_names_absent_files():
    old, new = "a\nb\n", "a\nc"
    text = unified_diff(old, new, "pkg/x.py")
    assert text.startswith("--- a/pkg/x.py\n+++ b/pkg/x.py\n") and "\\ No newline at end of file\n" in text
    (patch,) = parse(text)
    assert apply(old, patch, "x") == new
    assert unified_diff(None, "n\n", "y.py").startswith("--- /dev/null\n+++ b/y.py\n")
    assert unified_diff("same\n", "same\n", "z.py") == ""


def test_pep503_links_are_read_once_for_fetch_and_for_versions():
    html = ('<html><head><base href="https://files.example/"></head><body>'
            '<a href="p/mmcv_full-1.3.8.zip#sha256=AB">z</a><a href="p/mmcv-full-1.3.8.tar.gz#sha256=cd">t</a>'
            '<a href="p/mmcv_full-1.4.0rc1.tar.gz">r</a><a href="p/other-1.0.tar.gz">o</a><a href="x.whl">w</a>')
    found = sdists("https://index.example/simple/mmcv-full/", html)
    assert [(s.project, s.version, s.sha256) for s in found] == [
        ("mmcv-full", "1.3.8", "ab"), ("mmcv-full", "1.3.8", "cd"), ("mmcv-full", "1.4.0rc1", ""), ("other", "1.0", "")]
    assert sdist_links("MMCV.Full", "1.3.8", "https://index.example/simple/mmcv-full/", html) == [
        ("https://files.example/p/mmcv-full-1.3.8.tar.gz", "cd"), ("https://files.example/p/mmcv_full-1.3.8.zip", "ab")]


def test_driver_args_are_what_the_drivers_parse():
    import argparse

    run = contract.DriverArgs("/w", "/d", seed=3, amp="O1", loss_scale=128.0, samples_per_device=2, max_iters=7)
    assert run.argv() == ["--work-dir", "/w", "--data-root", "/d", "--seed", "3", "--amp", "O1", "--loss-scale", "128",
                          "--samples-per-device", "2", "--max-iters", "7", "--no-checkpoint"]
    parser = argparse.ArgumentParser()
    contract.add_driver_arguments(parser, amp_levels=["O1", "off"], loss_scale=32.0)
    args = parser.parse_args([*run.argv(), "--launcher", "pytorch"])
    assert (args.max_iters, args.no_checkpoint, args.loss_scale, args.launcher) == (7, True, 128.0, "pytorch")
    full = contract.DriverArgs("/w", "/d", epochs=2, validate=True, img_scale="320,320").argv()
    assert full[-5:] == ["--epochs", "2", "--validate", "--img-scale", "320,320"]
    assert contract.fps([2, 2], [0.5, 0.5], 4) == 16.0 and contract.fps([2], [0.0], 1) is None
    assert contract.warmup_iters({contract.WARMUP_ENV: "2"}) == 2 and contract.warmup_iters({}) == 5
    assert json.loads(json.dumps(contract.metrics_row(1, 0.5, 2, 4, None))) == {
        "iter": 1, "time": 0.5, "samples": 2, "world_size": 4, "loss": None}
