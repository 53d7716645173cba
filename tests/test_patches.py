"""The patch engine and the workspace, on a demo recipe over a local upstream tree, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, run_cli
from demo_recipe import make_recipe, make_upstream
from npuport.patches.hashing import file_hash


def recorded(tmp_path, extra_files=0, extra_steps=""):
    upstream = make_upstream(tmp_path / "upstream", extra_files)
    recipes = make_recipe(tmp_path / "recipes", upstream, extra_steps=extra_steps)
    out = run_cli("verify-patches", "demo", "--recipes", str(recipes), "--record")
    assert out.returncode == 0, out.stdout + out.stderr
    return upstream, recipes


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): file_hash(p) for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def test_verify_records_then_proves(tmp_path):
    _, recipes = recorded(tmp_path)
    table = json.loads((recipes / "demo" / "hashes.json").read_text())
    assert set(table["steps"]) == {"backend", "extra-module", "device"}
    out = run_cli("verify-patches", "demo", "--recipes", str(recipes), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    steps = {s["id"]: s for s in data["recipes"][0]["steps"]}
    assert steps["backend"]["status"] == "applied" and steps["backend"]["files"] == ["demo/core.py"]
    assert steps["extra-module"]["base"] == {"demo/npu_extra.py": "absent"}


def test_verify_without_record_fails(tmp_path):
    upstream = make_upstream(tmp_path / "upstream")
    recipes = make_recipe(tmp_path / "recipes", upstream)
    out = run_cli("verify-patches", "demo", "--recipes", str(recipes))
    assert out.returncode == 1
    assert "unrecorded" in out.stdout and "--record" in out.stdout


def test_setup_applies_and_reruns_as_noop(tmp_path):
    _, recipes = recorded(tmp_path)
    ws = tmp_path / "ws"
    first = run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ws), "--json")
    assert first.returncode == 0, first.stderr
    res = json.loads(first.stdout)
    assert res["changed"] is True and [s["status"] for s in res["steps"]] == ["applied"] * 3
    core = (ws / "current" / "src" / "demo" / "demo" / "core.py").read_text()
    assert "npuport.runtime.dist_backend()" in core and "# keep this comment" in core
    assert "return x.to(npuport.runtime.current())" in core
    assert (ws / "current" / "src" / "demo" / "demo" / "npu_extra.py").exists()
    lock = json.loads((ws / "npuport.lock").read_text())
    assert lock["recipe"] == "demo" and lock["files"]["demo/demo/core.py"] == file_hash(
        ws / "current" / "src" / "demo" / "demo" / "core.py")
    before = tree_hashes(ws / "current")
    second = run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ws), "--json")
    assert second.returncode == 0 and json.loads(second.stdout)["changed"] is False
    assert tree_hashes(ws / "current") == before


def test_drift_names_the_file_and_writes_nothing(tmp_path):
    upstream, recipes = recorded(tmp_path)
    ws = tmp_path / "ws"
    assert run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ws)).returncode == 0
    before = tree_hashes(ws)
    core = upstream / "demo" / "core.py"
    core.write_text(core.read_text() + "\n# upstream changed\n")
    out = run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ws))
    assert out.returncode == 1
    assert "step backend drift" in out.stderr and "demo/demo/core.py: expected" in out.stderr
    assert "nothing was changed" in out.stderr
    assert tree_hashes(ws) == before
    verify = run_cli("verify-patches", "demo", "--recipes", str(recipes))
    assert verify.returncode == 1 and "drift" in verify.stdout


def test_hand_edits_are_not_overwritten_silently(tmp_path):
    _, recipes = recorded(tmp_path)
    ws = tmp_path / "ws"
    assert run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ws)).returncode == 0
    core = ws / "current" / "src" / "demo" / "demo" / "core.py"
    core.write_text("edited\n")
    out = run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ws))
    assert out.returncode == 1 and "edited by hand: demo/demo/core.py" in out.stderr
    assert core.read_text() == "edited\n"
    assert run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ws), "--force").returncode == 0
    assert "dist_backend" in core.read_text()


def test_force_over_an_unchanged_key_keeps_the_live_state_until_the_swap(tmp_path, monkeypatch):
    """setup --force with the same key: a kill just before the swap leaves `current` whole (the edited tree),
    and the next --force swaps in the patched tree and removes the old one."""
    import pytest

    from npuport import recipe
    from npuport.commands.setup import setup
    from npuport.workspace import Workspace

    _, recipes = recorded(tmp_path)
    ws = tmp_path / "ws"
    demo = recipe.load("demo", [str(recipes)])
    setup(demo, workspace=str(ws))
    core = ws / "current" / "src" / "demo" / "demo" / "core.py"
    core.write_text("edited\n")
    live = (ws / "current").resolve()

    def killed(self, final):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(Workspace, "_swap", killed)
        with pytest.raises(KeyboardInterrupt):
            setup(demo, workspace=str(ws), force=True)
    assert (ws / "current").resolve() == live and core.read_text() == "edited\n"
    setup(demo, workspace=str(ws), force=True)
    assert "dist_backend" in core.read_text() and (ws / "current").resolve() != live
    assert [p.name for p in (ws / "states").iterdir() if not p.name.startswith(".")] == [(ws / "current").resolve().name]


def test_rewriter_that_changes_nothing_fails(tmp_path):
    extra = """
        [[step]]
        id = "nothing-to-do"
        kind = "rewrite"
        source = "demo"
        rules = ["NPU602"]
        paths = ["demo/__init__.py"]
        why = "numpy aliases (there are none here)"
    """
    upstream = make_upstream(tmp_path / "upstream")
    recipes = make_recipe(tmp_path / "recipes", upstream, extra_steps=extra)
    out = run_cli("verify-patches", "demo", "--recipes", str(recipes), "--record")
    assert out.returncode == 1
    assert "no-change" in out.stdout and "NPU602 changed nothing in demo/__init__.py" in out.stdout


def test_revert_restores_pristine(tmp_path):
    upstream, recipes = recorded(tmp_path)
    ws = tmp_path / "ws"
    assert run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ws)).returncode == 0
    out = run_cli("revert", "demo", "--recipes", str(recipes), "--workspace", str(ws))
    assert out.returncode == 0, out.stderr
    assert tree_hashes(ws / "current" / "src" / "demo") == tree_hashes(upstream)
    assert json.loads((ws / "npuport.lock").read_text())["patched"] is False
    assert run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ws)).returncode == 0
    assert "dist_backend" in (ws / "current" / "src" / "demo" / "demo" / "core.py").read_text()


def test_diff_shows_the_patch_set(tmp_path):
    _, recipes = recorded(tmp_path)
    out = run_cli("diff", "demo", "--recipes", str(recipes))
    assert out.returncode == 0, out.stderr
    assert "--- a/demo/demo/core.py\n+++ b/demo/demo/core.py" in out.stdout
    assert "+    return npuport.runtime.dist_backend()" in out.stdout
    assert "--- /dev/null\n+++ b/demo/demo/npu_extra.py" in out.stdout


def test_missing_workspace_for_revert(tmp_path):
    _, recipes = recorded(tmp_path)
    out = run_cli("revert", "demo", "--recipes", str(recipes), "--workspace", str(tmp_path / "nowhere"))
    assert out.returncode == 2 and "npuport setup demo" in out.stderr


def test_sigkill_mid_apply_leaves_a_whole_tree(tmp_path):
    """Kill setup at several moments; each rerun ends with the same tree as an uninterrupted run."""
    _, recipes = recorded(tmp_path, extra_files=1500)
    ref = tmp_path / "ref"
    assert run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ref)).returncode == 0
    want = tree_hashes(ref / "current")
    ws = tmp_path / "ws"
    env = {**os.environ}
    for delay in (0.3, 0.6, 0.9, 1.2):
        proc = subprocess.Popen([sys.executable, "-m", "npuport", "setup", "demo", "--recipes", str(recipes),
                                 "--workspace", str(ws), "--force"], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if (ws / "current").exists():  # whatever is current is a whole state, never half a one
            assert tree_hashes(ws / "current") == want
    out = run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ws))
    assert out.returncode == 0, out.stderr
    assert tree_hashes(ws / "current") == want
    assert not list((ws / "states").glob(".stage-*"))


def test_dry_run_changes_nothing(tmp_path):
    _, recipes = recorded(tmp_path)
    ws = tmp_path / "ws"
    out = run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ws), "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "patch  backend (diff demo)" in out.stdout
    assert not ws.exists()


def test_two_concurrent_setups_share_one_cache(tmp_path):
    """Two setups at once, from one git upstream through one cache, both end with the same whole tree."""
    upstream = make_upstream(tmp_path / "upstream", extra_files=300)
    git = ["git", "-C", str(upstream), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "upstream"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    recipes = make_recipe(tmp_path / "recipes", upstream)
    toml = recipes / "demo" / "recipe.toml"
    toml.write_text(toml.read_text().replace(f'kind = "path"\npath = "{upstream}"',
                                             f'kind = "git"\nurl = "https://github.com/demo/demo.git"\ncommit = "{commit}"'))
    mirror = f"https://github.com/demo/demo.git={upstream.as_uri()}"
    assert run_cli("verify-patches", "demo", "--recipes", str(recipes), "--record", "--mirror", mirror).returncode == 0
    procs = [subprocess.Popen([sys.executable, "-m", "npuport", "setup", "demo", "--recipes", str(recipes),
                               "--workspace", str(tmp_path / f"ws{i}"), "--mirror", mirror], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    a, b = (tree_hashes(tmp_path / f"ws{i}" / "current" / "src") for i in range(2))
    assert a == b and "demo/demo/npu_extra.py" in a
    assert len(list((tmp_path / "cache" / "trees").glob("*.json"))) == 1


def test_a_changed_recipe_makes_the_workspace_stale(tmp_path):
    from npuport import recipe
    from npuport.workspace import Workspace, is_stale

    _, recipes = recorded(tmp_path)
    ws = tmp_path / "ws"
    assert run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ws)).returncode == 0
    lock = Workspace(ws).read_lock()
    assert not is_stale(recipe.load("demo", [str(recipes)]), lock)
    toml = recipes / "demo" / "recipe.toml"
    toml.write_text(toml.read_text().replace("a new module of ours", "a new module of ours, reworded"))
    assert is_stale(recipe.load("demo", [str(recipes)]), lock)


def test_a_failing_build_is_one_line_naming_its_log(tmp_path):
    upstream = make_upstream(tmp_path / "upstream")
    (upstream / "setup.py").write_text("raise SystemExit('npuport-test: this package does not build')\n")
    recipes = make_recipe(tmp_path / "recipes", upstream, extra_steps='\n[[install]]\nsource = "demo"\n')
    assert run_cli("verify-patches", "demo", "--recipes", str(recipes), "--record").returncode == 0
    out = run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(tmp_path / "ws"), timeout=600)
    assert out.returncode == 1, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("npuport: error: build of demo failed at `") and "build-failed.log" in last
    assert "Traceback" not in out.stderr
    log = tmp_path / "ws" / "env" / "build-failed.log"
    assert "npuport-test: this package does not build" in log.read_text()
