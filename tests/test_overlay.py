"""Whole-file overlays: audit, import, apply/verify/revert, drift, to-patch. The overlays are built at test time
from the real mmcv-full sdists (1.2.7 and 1.3.8, fetched through npuport's cache); nothing upstream is committed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli, write
from demo_recipe import make_upstream
from npuport.patches.hashing import file_hash

MMCV = {"1.2.7": "de8c864e5a5bb16b27dc055fee362fb64ca09ebda1347633ab3d9914ff96a6e7",
        "1.3.8": "2b8dd40697a11b7061b5f54131999ac1cda4c4b02dfc60d7fc2c9a3fa484782e"}
CHECKPOINT = "mmcv/runner/hooks/checkpoint.py"  # 1.2.7's lacks CheckpointHook.before_run (and save_last)
TIMER = "mmcv/runner/hooks/iter_timer.py"
CONTEXT = "mmcv/cnn/bricks/context_block.py"
EDIT = "        x = x.contiguous()  # the fused kernel wants contiguous input\n"


def mmcv_tree(version: str) -> Path:
    from npuport.recipe.model import Source
    from npuport.sources import fetch

    src = Source(name="mmcv", kind="pypi", package="mmcv-full", version=version, sha256=MMCV[version])
    return Path(fetch(src).root)


def edited_context(root: Path) -> str:
    text = (root / CONTEXT).read_text()
    assert text.count("    def forward(self, x):\n") == 1
    return text.replace("    def forward(self, x):\n", "    def forward(self, x):\n" + EDIT)


@pytest.fixture
def hand_made(shared_cache, tmp_path) -> Path:
    """A hand-made port's folder: one file of each kind, laid out as its README's `cp -f` lines would say."""
    old, new = mmcv_tree("1.2.7"), mmcv_tree("1.3.8")
    port = tmp_path / "mmcv_need"
    write(port / CHECKPOINT, (old / CHECKPOINT).read_text())  # cut from 1.2.7
    write(port / TIMER, (new / TIMER).read_text())  # identical to 1.3.8
    write(port / "mmcv/runner/optimizer/builder.py", (new / "mmcv/runner/builder.py").read_text())  # wrong path
    write(port / "context_block.py", edited_context(new))  # a real edit, found by name and content
    return port


def audit_json(port: Path, *extra: str) -> tuple[int, dict]:
    out = run_cli("overlay", "audit", str(port), "--onto", "mmcv-full==1.3.8", "--json", *extra)
    assert out.stdout.startswith("{"), out.stderr
    return out.returncode, json.loads(out.stdout)


@pytest.mark.network
def test_audit_finds_all_four_kinds(hand_made):
    rc, data = audit_json(hand_made)
    assert rc == 1 and data["ok"] is False
    files = {f["file"]: f for f in data["files"]}
    assert files[TIMER]["kind"] == "noop"
    mis = files["mmcv/runner/optimizer/builder.py"]
    assert mis["kind"] == "misplaced" and mis["really"] == "mmcv/runner/builder.py"
    cut = files[CHECKPOINT]
    assert cut["kind"] == "other-version" and cut["closest"].startswith("1.2.")
    assert {"name": "CheckpointHook.before_run", "kind": "hook"} in cut["removes"]
    assert cut["scores"][cut["closest"]] > cut["scores"]["1.3.8"]
    change = files["context_block.py"]
    assert change["kind"] == "change" and change["target"] == CONTEXT
    assert (change["added"], change["deleted"]) == (1, 0) and change["removes"] == []
    text = run_cli("overlay", "audit", str(hand_made), "--onto", "mmcv-full==1.3.8")
    assert "cut from mmcv-full 1.2.7" in text.stdout and "CheckpointHook.before_run (hook)" in text.stdout


@pytest.mark.network
def test_audit_of_a_clean_overlay_passes_and_map_names_the_target(shared_cache, tmp_path):
    port = tmp_path / "port"
    write(port / "gc.py", edited_context(mmcv_tree("1.3.8")))
    rc, data = audit_json(port, "--map", f"gc.py={CONTEXT}", "--max-downloads", "0")
    assert rc == 0 and data["files"][0]["kind"] == "change" and data["files"][0]["target"] == CONTEXT
    bad = run_cli("overlay", "audit", str(port), "--onto", "mmcv-full==1.3.8", "--map", "nope.py=x.py")
    assert bad.returncode == 2 and "nope.py is not a file in" in bad.stderr


@pytest.mark.network
def test_import_applies_verifies_reverts_and_drifts(hand_made, tmp_path):
    recipes = tmp_path / "recipes"
    out = recipes / "myport"
    refused = run_cli("overlay", "import", str(hand_made), "--onto", "mmcv-full==1.3.8", "--out", str(out))
    assert refused.returncode == 1 and "nothing written" in refused.stderr and not out.exists()
    done = run_cli("overlay", "import", str(hand_made), "--onto", "mmcv-full==1.3.8", "--out", str(out),
                   "--partial", "--id", "mmcv-need")
    assert done.returncode == 0, done.stderr
    table = json.loads((out / "hashes.json").read_text())["steps"]["mmcv-need"]["mmcv-full==1.3.8"]
    pristine = mmcv_tree("1.3.8") / CONTEXT
    assert table["base"] == {CONTEXT: file_hash(pristine)}
    assert list((out / "overlays").rglob("*.py")) == [out / "overlays" / "mmcv-need" / CONTEXT]

    assert run_cli("verify-patches", "myport", "--recipes", str(recipes), "--record").returncode == 0
    assert json.loads((out / "hashes.json").read_text())["steps"]["mmcv-need"]["mmcv-full==1.3.8"] == table
    ws = tmp_path / "ws"
    setup = run_cli("setup", "myport", "--recipes", str(recipes), "--workspace", str(ws))
    assert setup.returncode == 0, setup.stderr
    patched = ws / "current" / "src" / "mmcv-full" / CONTEXT
    assert EDIT in patched.read_text()
    assert run_cli("revert", "myport", "--recipes", str(recipes), "--workspace", str(ws)).returncode == 0
    assert file_hash(ws / "current" / "src" / "mmcv-full" / CONTEXT) == file_hash(pristine)

    # the upstream file changed under the overlay: drift, named, nothing changed
    changed = tmp_path / "mmcv-changed"
    shutil.copytree(mmcv_tree("1.3.8"), changed)
    (changed / CONTEXT).chmod(0o644)
    (changed / CONTEXT).write_text(pristine.read_text() + "\n# upstream moved on\n")
    drift = run_cli("setup", "myport", "--recipes", str(recipes), "--workspace", str(ws),
                    "--source", f"mmcv-full={changed}")
    assert drift.returncode == 1 and "step mmcv-need drift" in drift.stderr and CONTEXT in drift.stderr

    # onto another version: no recorded base, refused and named
    toml = out / "recipe.toml"
    toml.write_text(toml.read_text().replace(
        f'sha256 = "{MMCV["1.3.8"]}"\n',
        f'sha256 = "{MMCV["1.3.8"]}"\noption = "mmcv"\n\n[[source.alternative]]\nversion = "1.2.7"\n'
        f'sha256 = "{MMCV["1.2.7"]}"\n'))
    other = run_cli("verify-patches", "myport", "--recipes", str(recipes))
    assert other.returncode == 1 and "no recorded base for mmcv-full==1.2.7" in other.stdout
    wrong = run_cli("setup", "myport", "--recipes", str(recipes), "--workspace", str(ws), "--mmcv", "1.2.7")
    assert wrong.returncode == 1 and "no recorded base for mmcv-full==1.2.7" in wrong.stderr


@pytest.mark.network
def test_to_patch_names_the_rewriters_and_keeps_a_minimal_diff(shared_cache, tmp_path):
    from npuport import rewriters
    from npuport.patches import unidiff

    root = mmcv_tree("1.3.8")
    rel = "mmcv/parallel/_functions.py"
    upstream = (root / rel).read_text()
    npu, _ = rewriters.apply(upstream, ["NPU111", "NPU112"], rel)  # what a team did by hand: .cuda -> .npu
    hand = npu.replace("def scatter(input, devices, streams=None):\n",
                       "def scatter(input, devices, streams=None):\n    # ported by hand\n")
    port = tmp_path / "port"
    write(port / rel, hand)
    write(port / "context_block.py", edited_context(root))
    out = run_cli("overlay", "to-patch", str(port), "--onto", "mmcv-full==1.3.8", "--max-downloads", "0", "--json")
    assert out.returncode == 0, out.stderr
    files = {f["target"]: f for f in json.loads(out.stdout)["files"]}
    assert files[rel]["rules"] == ["NPU111", "NPU112"] and (files[rel]["added"], files[rel]["deleted"]) == (1, 0)
    assert files[CONTEXT]["rules"] == [] and (files[CONTEXT]["added"], files[CONTEXT]["deleted"]) == (1, 0)
    # the rewrite step, then the diff, give the hand-made file exactly
    (patch,) = unidiff.parse(files[rel]["diff"], "to-patch")
    assert unidiff.apply(rewriters.apply(upstream, files[rel]["rules"], rel)[0], patch, "to-patch") == hand
    text = run_cli("overlay", "to-patch", str(port), "--onto", "mmcv-full==1.3.8", "--max-downloads", "0",
                   "--out", str(tmp_path / "p.diff"))
    assert "after a rewrite step with NPU111, NPU112" in text.stderr
    assert (tmp_path / "p.diff").read_text().count("+++ b/") == 2


# Without the network: the overlay step itself, on a local upstream, with a hand-written hash table.

OVERLAY_STEP = """
    [[step]]
    id = "hand-made"
    kind = "overlay"
    source = "demo"
    folder = "overlays/hand-made"
    why = "the team's edited core.py"

    [step.map]
    "demo/core.py" = "core.py"
"""


def overlay_recipe(tmp_path: Path, record: bool = True) -> tuple[Path, Path]:
    upstream = make_upstream(tmp_path / "upstream")
    rdir = tmp_path / "recipes" / "ov"
    new = (upstream / "demo" / "core.py").read_text().replace("'nccl'", "'hccl'")
    write(rdir / "overlays" / "hand-made" / "core.py", new)
    write(rdir / "recipe.toml", f"""
        name = "ov"
        description = "an overlay over a local tree"

        [[source]]
        name = "demo"
        kind = "path"
        path = "{upstream}"
        {OVERLAY_STEP}""")
    if record:
        key = f"path:{upstream}"
        (rdir / "hashes.json").write_text(json.dumps({"steps": {"hand-made": {key: {
            "base": {"demo/core.py": file_hash(upstream / "demo" / "core.py")},
            "result": {"demo/core.py": file_hash(rdir / "overlays" / "hand-made" / "core.py")}}}}}))
    return upstream, tmp_path / "recipes"


def test_overlay_step_applies_and_refuses_drift(tmp_path):
    upstream, recipes = overlay_recipe(tmp_path)
    assert run_cli("verify-patches", "ov", "--recipes", str(recipes)).returncode == 0
    ws = tmp_path / "ws"
    assert run_cli("setup", "ov", "--recipes", str(recipes), "--workspace", str(ws)).returncode == 0
    assert "'hccl'" in (ws / "current" / "src" / "demo" / "demo" / "core.py").read_text()
    core = upstream / "demo" / "core.py"
    core.write_text(core.read_text() + "# changed upstream\n")
    out = run_cli("setup", "ov", "--recipes", str(recipes), "--workspace", str(ws))
    assert out.returncode == 1 and "step hand-made drift: demo/demo/core.py: expected" in out.stderr


def test_overlay_step_without_a_recorded_base_is_refused(tmp_path):
    _, recipes = overlay_recipe(tmp_path, record=False)
    out = run_cli("setup", "ov", "--recipes", str(recipes), "--workspace", str(tmp_path / "ws"))
    assert out.returncode == 1 and "overlay hand-made has no recorded base" in out.stderr
    assert "npuport overlay import" in out.stderr


def test_overlay_schema(tmp_path):
    _, recipes = overlay_recipe(tmp_path)
    toml = recipes / "ov" / "recipe.toml"
    toml.write_text(toml.read_text().replace('"demo/core.py" = "core.py"', '"demo/core.py" = "missing.py"'))
    out = run_cli("show", "ov", "--recipes", str(recipes))
    assert out.returncode == 2 and "overlays/hand-made/missing.py, which is not a file" in out.stderr


def test_features_and_search_order():
    from npuport.overlay.features import features, removed
    from npuport.overlay.versions import coarse_order

    old = "class H(Hook):\n    def after_iter(self, r):\n        pass\n"
    new = old + "    def before_run(self, r):\n        pass\n\n    def save(self):\n        pass\n\ndef f():\n    pass\n"
    assert [str(f) for f in removed(new, old)] == ["H.before_run (hook)", "H.save (method)", "f (function)"]
    assert features("def (") is None and removed("def f(): pass\n", "def (") == []
    versions = ["1.1.5", "1.1.6", "1.2.0", "1.2.7", "1.3.0", "1.3.8", "1.3.18", "1.4.0", "1.5.0"]
    assert coarse_order(versions, "1.3.8")[:4] == ["1.3.0", "1.3.18", "1.2.7", "1.4.0"]
