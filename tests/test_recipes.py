from __future__ import annotations

import json
import re

import pytest

from conftest import REPO, run_cli, write
from npuport import recipe
from npuport.errors import RecipeError, UsageError

FIVE = {"gcnet", "gfocalv2", "solov2", "genet", "gcnet-original"}


def test_five_recipes_with_pins():
    assert set(recipe.all_names()) == FIVE
    for name in FIVE:
        r = recipe.load(name)
        for src in r.sources:
            if src.kind == "pypi":
                assert re.fullmatch(r"[0-9a-f]{64}", src.sha256)
            if src.kind == "git":
                assert re.fullmatch(r"[0-9a-f]{40}", src.commit)
                assert src.url.startswith("https://github.com/")


def test_pins_are_the_ones_the_ports_use():
    gcnet = recipe.load("gcnet")
    assert gcnet.source("mmcv").pin_label == "mmcv-full==1.3.8" and gcnet.source("mmdet").pin_label == "mmdet==2.10.0"
    assert recipe.load("gfocalv2").source("mmcv").version == "1.2.7"
    assert recipe.load("solov2").source("solo").commit.startswith("95f3732")
    assert recipe.load("genet").source("genet").commit.startswith("3fbf99f")
    refs = {(r.device, r.world_size): r for r in gcnet.references}
    assert refs[("gpu", 1)].fps == 8.47 and refs[("npu", 8)].accuracy == 39.1


def test_list_json_lists_five_with_pins():
    out = run_cli("list", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    by_name = {r["name"]: r for r in data["recipes"]}
    assert set(by_name) == FIVE
    mmcv = by_name["gcnet"]["sources"][0]
    assert mmcv["sha256"] == "2b8dd40697a11b7061b5f54131999ac1cda4c4b02dfc60d7fc2c9a3fa484782e"
    assert mmcv["versions"] == ["1.3.8", "1.2.7", "1.3.18"]
    assert by_name["gcnet"]["choices"]["mmcv"]["default"] == "1.3.8"
    assert by_name["solov2"]["choices"]["mmcv"]["versions"] == ["0.2.16"]


def test_show_unknown_name_lists_known_ones():
    out = run_cli("show", "gcnett")
    assert out.returncode == 2
    assert "unknown recipe 'gcnett'" in out.stderr and "gcnet, gcnet-original" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def _recipe(tmp_path, body: str):
    write(tmp_path / "r" / "x" / "recipe.toml", 'name = "x"\ndescription = "d"\n' + body)
    return tmp_path / "r"


def test_unknown_key_names_file_and_key(tmp_path):
    d = _recipe(tmp_path, '[[source]]\nname = "a"\nkind = "path"\npath = "/x"\nshaa256 = "y"\n')
    with pytest.raises(RecipeError, match=r"recipe.toml: key 'source\[0\].shaa256' is not a known key"):
        recipe.load("x", [str(d)])
    out = run_cli("show", "x", "--recipes", str(d))
    assert out.returncode == 2 and "shaa256" in out.stderr and str(d / "x" / "recipe.toml") in out.stderr


@pytest.mark.parametrize("body, key", [
    ('[[source]]\nname = "a"\nkind = "pypi"\npackage = "p"\nversion = "1"\nsha256 = "abc"\n', "source[0].sha256"),
    ('[[source]]\nname = "a"\nkind = "git"\nurl = "u"\ncommit = "95f3732"\n', "source[0].commit"),
    ('[[source]]\nname = "a"\nkind = "svn"\n', "source[0].kind"),
    ('[[source]]\nname = "a"\nkind = "path"\npath = "/x"\n[[step]]\nid = "s"\nkind = "diff"\nsource = "b"\n'
     'patch = "p.diff"\nwhy = "w"\n', "step[0].source"),
    ('[[source]]\nname = "a"\nkind = "path"\npath = "/x"\n[train]\ndriver = "d"\namp = "O2"\n', "train.amp"),
])
def test_bad_values_name_the_key(tmp_path, body, key):
    d = _recipe(tmp_path, body)
    with pytest.raises(RecipeError, match=re.escape(f"key '{key}'")):
        recipe.load("x", [str(d)])


def test_unsupported_version_lists_supported():
    from npuport.recipe.resolve import resolve

    with pytest.raises(UsageError, match="does not support --mmcv 9.9; supported: 1.3.8, 1.2.7, 1.3.18"):
        resolve(recipe.load("gcnet"), {"mmcv": "9.9"})


def test_recipes_ship_in_a_wheel(tmp_path):
    """A non-editable install still finds the recipes."""
    import subprocess
    import sys
    import zipfile

    import shutil

    src = tmp_path / "src"  # pip builds in the tree it is given: build a copy, not the checkout
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", "build", "ws", "work_dirs", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(src)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("npuport-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "npuport/_recipes/gcnet/recipe.toml" in names
    assert "npuport/cli/__init__.py" in names and "npuport/cli/run.py" in names
