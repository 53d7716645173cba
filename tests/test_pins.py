"""Versioned pins and shared step sets: `--mmcv` offers the pinned versions, steps carry version ranges, shared
sets (recipes/_mmcv_full, _mmcv_02, _npu_env) are included like _apex, and `npuport pin` brings a version in.

The default versions are proven end to end by test_gcnet.py and the others; here a non-default one (gcnet on
mmcv-full 1.2.7) is set up and trained, and the pin command meets real releases from PyPI: 1.3.9, whose
distributed.py no longer matches the 1.3 DDP diff (drift), and 1.3.17, which every step holds on."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from conftest import REPO, check_metrics, run_cli, write
from npuport import recipe
from npuport.errors import RecipeError

SCALE = "256,256"


def test_choices_in_list_and_show():
    data = json.loads(run_cli("list", "--json").stdout)
    choices = {r["name"]: r["choices"] for r in data["recipes"]}
    assert choices["gcnet"]["mmcv"]["versions"] == ["1.3.8", "1.2.7", "1.3.18"]
    assert choices["gfocalv2"]["mmcv"]["versions"] == ["1.2.7", "1.2.5", "1.2.6"]
    assert choices["gcnet-original"]["mmcv"]["versions"] == ["0.2.16", "0.2.10", "0.2.15"]
    assert choices["solov2"]["mmcv"] == {"default": "0.2.16", "versions": ["0.2.16"],
                                         "note": "SOLO requires mmcv==0.2.16 (requirements/runtime.txt): the only choice"}
    assert choices["genet"] == {}
    solo = run_cli("show", "solov2")
    assert solo.returncode == 0 and "SOLO requires mmcv==0.2.16" in solo.stdout
    shown = run_cli("show", "gfocalv2").stdout
    assert "--mmcv 1.2.7 | 1.2.5 | 1.2.6 (default 1.2.7)" in shown
    # the 1.3 variants of _mmcv_full run on none of gfocalv2's pins: not listed as its steps, but counted
    assert "mmcv-cpu-scatter-1.2 (diff mmcv: _mmcv_full/patches/mmcv-cpu-scatter-1.2.diff)" in shown
    assert "mmcv-cpu-scatter-1.3.5" not in shown and "4 more step(s) of the included sets" in shown


def test_unpinned_version_is_one_line_listing_the_pinned_ones(tmp_path):
    for args in (["setup", "gcnet", "--mmcv", "1.3.9", "--dry-run"], ["verify-patches", "gcnet", "--mmcv", "1.3.9"]):
        out = run_cli(*args)
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip() == ("npuport: error: recipe gcnet does not support --mmcv 1.3.9; supported: 1.3.8, "
                                      "1.2.7, 1.3.18 (pinned; bring another in with `npuport pin gcnet --mmcv VERSION`)")


def test_dry_run_lists_only_the_chosen_versions_steps():
    out = run_cli("setup", "gcnet", "--mmcv", "1.2.7", "--dry-run", "--json")
    ids = [s["id"] for s in json.loads(out.stdout)["steps"]]
    assert ids[:6] == ["mmcv-portable-ops", "mmcv-cpu-scatter-1.2", "mmcv-cpu-train-step", "mmcv-ddp-train-step-1.2",
                       "mmcv-compat-numpy", "mmcv-compat-torchvision"]
    assert "mmcv-device-engine" not in ids and "mmdet-mmcv-version" in ids
    default = [s["id"] for s in json.loads(run_cli("setup", "gcnet", "--dry-run", "--json").stdout)["steps"]]
    assert "mmcv-cpu-scatter-1.3.5" in default and "mmcv-cpu-train-step" not in default


def test_steps_take_versions_and_ranges():
    gcnet = recipe.load("gcnet")
    step = {s.id: s for s in gcnet.steps}
    assert step["mmcv-ddp-train-step-1.3"].versions == (">=1.3,<1.3.10",)
    assert [v for v in ("1.2.7", "1.3.0", "1.3.9", "1.3.10") if step["mmcv-ddp-train-step-1.3"].applies_to(v)] == [
        "1.3.0", "1.3.9"]
    assert step["mmcv-compat-numpy"].applies_to("9.9") and not step["mmcv-device-engine"].applies_to("1.3.0")
    assert step["mmcv-portable-ops"].include == "_mmcv_full" and step["mmdet-coco-api"].include == ""


def _recipe(root: Path, body: str, name: str = "x") -> Path:
    write(root / name / "recipe.toml", f'name = "{name}"\ndescription = "d"\n' + body)
    return root


PYPI = '[[source]]\nname = "mmcv"\nkind = "pypi"\npackage = "mmcv-full"\nversion = "1.3.8"\nsha256 = "' + "a" * 64 + '"\n'


def test_a_shared_set_is_included_before_the_recipes_own_steps(tmp_path):
    root = tmp_path / "r"
    write(root / "_mine" / "include.toml", """
        [[step]]
        id = "shared"
        kind = "diff"
        source = "mmcv"
        versions = [">=1.3"]
        patch = "patches/p.diff"
        why = "w"

        [npu_env]
        A = 1
        B = 2
    """)
    write(root / "_mine" / "patches" / "p.diff", "--- a/f.py\n+++ b/f.py\n@@ -1 +1 @@\n-a\n+b\n")
    _recipe(root, 'include = ["_mine", "_mmcv_full"]\n' + PYPI + '[[step]]\nid = "own"\nkind = "rewrite"\n'
            'source = "mmcv"\nrules = ["NPU602"]\npaths = ["f.py"]\nwhy = "w"\n[train]\ndriver = "d"\n'
            '[train.npu_env]\nB = 3\n')
    r = recipe.load("x", [str(root)])
    ids = [s.id for s in r.steps]
    assert ids[0] == "shared" and ids[-1] == "own" and "mmcv-cpu-scatter-1.3.5" in ids
    assert (r.folder / r.steps[0].patch).resolve() == (root / "_mine" / "patches" / "p.diff").resolve()
    assert dict(r.train.npu_env) == {"A": "1", "B": "3"}  # the recipe's own key wins
    assert [i.source for i in r.installs] == ["mmcv"]  # _mmcv_full's build of mmcv


@pytest.mark.parametrize("body, words", [
    ('include = ["_nothere"]\n' + PYPI, "names '_nothere', which is no shared step set"),
    ('include = ["_mmcv_02"]\n' + PYPI.replace('"mmcv"', '"other"', 1), "which recipe x"),
    ('include = ["_mmcv_full"]\n' + PYPI + '[[step]]\nid = "mmcv-device"\nkind = "rewrite"\nsource = "mmcv"\n'
     'rules = ["NPU101"]\npaths = ["f.py"]\nwhy = "w"\n', "step id 'mmcv-device' comes twice"),
    (PYPI + '[[step]]\nid = "s"\nkind = "rewrite"\nsource = "mmcv"\nversions = ["1.3.x!"]\nrules = ["NPU101"]\n'
     'paths = ["f.py"]\nwhy = "w"\n', "key 'step[0].versions[0]' must be a version or a PEP 440 range"),
    (PYPI + '[[step]]\nid = "s"\nkind = "rewrite"\nsource = "mmcv"\nversions = [">=1.4"]\nrules = ["NPU101"]\n'
     'paths = ["f.py"]\nwhy = "w"\n', "matches no pinned version of mmcv (1.3.8)"),
])
def test_bad_includes_and_versions_name_file_and_key(tmp_path, body, words):
    root = _recipe(tmp_path / "r", body)
    with pytest.raises(RecipeError, match="recipe.toml") as err:
        recipe.load("x", [str(root)])
    assert words in str(err.value)


def _copy(tmp_path: Path, name: str) -> Path:
    root = tmp_path / "recipes"
    shutil.copytree(REPO / "recipes" / name, root / name)
    return root


@pytest.mark.network
def test_pin_names_the_drift_and_writes_nothing(shared_cache, tmp_path):
    """mmcv-full 1.3.9 changed distributed.py: the 1.3 DDP diff no longer applies. Asked to record (no
    --check-only), the command still writes nothing."""
    root = _copy(tmp_path, "gcnet")
    before = {p: p.read_bytes() for p in (root / "gcnet").iterdir() if p.is_file()}
    out = run_cli("pin", "gcnet", "--mmcv", "1.3.9", "--recipes", str(root), "--json", timeout=600)
    assert out.returncode == 1, out.stderr
    res = json.loads(out.stdout)
    bad = {r["id"]: r for r in res["rows"] if r["status"] not in ("ok", "skipped")}
    assert list(bad) == ["mmcv-ddp-train-step-1.3"] and bad["mmcv-ddp-train-step-1.3"]["status"] == "drift"
    assert "mmcv/parallel/distributed.py does not apply at line 34" in bad["mmcv-ddp-train-step-1.3"]["detail"]
    assert res["recorded"] is False and not res["ok"]
    assert {p: p.read_bytes() for p in (root / "gcnet").iterdir() if p.is_file()} == before
    text = run_cli("pin", "gcnet", "--mmcv", "1.3.9", "--recipes", str(root), "--check-only", timeout=600)
    assert text.returncode == 1
    assert text.stdout.strip().splitlines()[-1] == ("gcnet --mmcv 1.3.9: 1 step(s) do not hold: "
                                                    "mmcv-ddp-train-step-1.3 (drift); nothing recorded")


@pytest.mark.network
def test_pin_records_a_version_every_step_holds_on(shared_cache, tmp_path):
    root = _copy(tmp_path, "gcnet")
    out = run_cli("pin", "gcnet", "--mmcv", "1.3.17", "--recipes", str(root), timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("gcnet --mmcv 1.3.17: every step holds; recorded")
    assert last.endswith(f"`npuport diff gcnet --mmcv 1.3.17 --recipes {root}`")  # the review command as it runs
    pinned = recipe.load("gcnet", [str(root)]).source("mmcv")
    assert [p.version for p in pinned.pins()] == ["1.3.8", "1.2.7", "1.3.18", "1.3.17"]
    assert pinned.at("1.3.17").sha256 == "dc755c676c4f1a1e87e55d2ab3d527724e0a679e5493d81d8e7eee4fe7db5605"
    hashes = json.loads((root / "gcnet" / "hashes.json").read_text())["steps"]
    assert "mmcv-full==1.3.17" in hashes["mmcv-portable-ops"] and "mmcv-full==1.3.17" in hashes["mmcv-device"]
    proved = run_cli("verify-patches", "gcnet", "--mmcv", "1.3.17", "--recipes", str(root), "--json", timeout=600)
    assert proved.returncode == 0
    assert [(v["version"], v["status"]) for v in json.loads(proved.stdout)["recipes"]] == [
        ("mmcv-full==1.3.17, mmdet==2.10.0", "ok")]
    out = run_cli("pin", "gcnet", "--mmcv", "1.3.99", "--recipes", str(root))
    assert out.returncode == 2 and "mmcv-full 1.3.99 is not a published release" in out.stderr


@pytest.mark.network
@pytest.mark.slow
def test_setup_and_train_on_a_non_default_version(shared_cache, tmp_path):
    """gcnet on mmcv-full 1.2.7 (its default 1.3.8 runs in test_gcnet.py): the 1.2 variants of the shared steps
    and mmcv-cpu-train-step, built and trained for a few iterations on CPU."""
    ws = tmp_path / "ws"
    out = run_cli("setup", "gcnet", "--mmcv", "1.2.7", "--workspace", str(ws), "--json", timeout=1500)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout)
    ids = [s["id"] for s in res["steps"]]
    assert {s["status"] for s in res["steps"]} == {"applied"}  # only this version's steps are reported
    assert "mmcv-cpu-train-step" in ids and "mmcv-cpu-scatter-1.3.5" not in ids
    lock = json.loads((ws / "npuport.lock").read_text())
    assert [s["pin"] for s in lock["sources"]] == ["mmcv-full==1.2.7", "mmdet==2.10.0"]
    work = tmp_path / "w"
    out = run_cli("train", "gcnet", "--workspace", str(ws), "--device", "cpu", "--img-scale", SCALE, "--data",
                  "synthetic", "--max-iters", "3", "--warmup-iters", "1", "--work-dir", str(work), timeout=1500)
    assert out.returncode == 0, out.stderr[-3000:]
    run = json.loads((work / "results.json").read_text())
    assert run["versions"]["mmcv"] == "1.2.7" and run["versions"]["mmdet"] == "2.10.0"
    check_metrics(work, run, world_size=1, iters=3, samples_per_device=2)
    assert math.isfinite(run["loss_first"]) and math.isfinite(run["loss_last"])
