"""NVIDIA apex as an upstream: refused from PyPI, fetched at a pinned commit through mirrors, patched by NPU404,
installed Python-only into the workspace; one line saying what is missing when it cannot be had."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli, write
from demo_recipe import make_recipe, make_upstream

# NVIDIA/apex is not among the bundles in ../shared/upstreams: the tests of the real tree need a local git
# snapshot of it named by NPUPORT_APEX_MIRROR, and skip, saying so, without one.
REAL_APEX = Path(os.environ["NPUPORT_APEX_MIRROR"]) if os.environ.get("NPUPORT_APEX_MIRROR") else None
NO_APEX = "set NPUPORT_APEX_MIRROR to a git snapshot of NVIDIA/apex (not among ../shared/upstreams) to test the real tree"
URL = "https://github.com/NVIDIA/apex.git"

# A small apex-shaped upstream written for this test: the layout and the idiom that the patch meets.
MINI_APEX = {
    "setup.py": """
        from setuptools import find_packages, setup

        setup(name="apex", version="0.1", packages=find_packages(include=["apex", "apex.*"]))
        """,
    "apex/__init__.py": "from . import amp\n",
    "apex/amp/__init__.py": "from .utils import cached_cast\n",
    "apex/amp/utils.py": """
        def cached_cast(cast_fn, x, cache):
            if x in cache:
                cached_x = cache[x]
                if x.requires_grad and cached_x.requires_grad:
                    if cached_x.grad_fn.next_functions[1][0].variable is not x:
                        raise RuntimeError("x is not the parent of cache[x]")
                return cached_x
            cache[x] = cast_fn(x)
            return cache[x]
        """,
}

# Call cached_cast twice on a weight, as apex O1 does at the second forward; prints where apex came from.
PROBE = """
import torch, apex.amp.utils as u
w = torch.nn.Parameter(torch.ones(3))
cache = {}
first = u.cached_cast(lambda t: t.half(), w, cache)
assert u.cached_cast(lambda t: t.half(), w, cache) is first
print(u.__file__)
"""


def probe(python: str, path: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"PYTHONPATH": str(path)} if path else {})}
    return subprocess.run([python, "-c", PROBE], capture_output=True, text=True, env=env, cwd="/")


def git_repo(root: Path) -> str:
    git = ["git", "-C", str(root), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "apex-shaped"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def apex_recipe(tmp_path: Path, source: str = "") -> Path:
    upstream = make_upstream(tmp_path / "upstream")
    recipes = make_recipe(tmp_path / "recipes", upstream)
    toml = recipes / "demo" / "recipe.toml"
    assert run_cli("verify-patches", "demo", "--recipes", str(recipes), "--record").returncode == 0
    toml.write_text('amp = "apex"\n' + toml.read_text() + source)
    return recipes


def test_pypi_apex_is_refused(tmp_path):
    upstream = make_upstream(tmp_path / "upstream")
    recipes = make_recipe(tmp_path / "recipes", upstream)
    toml = recipes / "demo" / "recipe.toml"
    toml.write_text(toml.read_text() + '\n[[source]]\nname = "amp"\nkind = "pypi"\npackage = "apex"\n'
                    'version = "0.9.10.dev0"\nsha256 = "' + "0" * 64 + '"\n')
    out = run_cli("show", "demo", "--recipes", str(recipes))
    assert out.returncode == 2 and "names the PyPI project 'apex', which is not NVIDIA apex" in out.stderr
    assert "source[1].package" in out.stderr and "--amp apex" in out.stderr
    onto = run_cli("overlay", "audit", str(tmp_path), "--onto", "apex==0.9.10.dev0")
    assert onto.returncode == 2 and "not NVIDIA apex" in onto.stderr


def test_setup_without_an_apex_mirror_says_what_is_missing(tmp_path):
    recipes = apex_recipe(tmp_path)
    runs = [["--offline"]]
    try:
        socket.gethostbyname("github.com")
    except OSError:
        runs.append([])  # github.com is unreachable here: the real failure, not only the offline one
    for extra in runs:
        out = run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(tmp_path / "ws"), *extra)
        assert out.returncode == 1, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        line = lines[0]
        assert line.startswith("npuport: error: apex is missing for demo: " + URL + " at commit 82ee367f3da7")
        assert f"--mirror {URL}=" in line and "--source apex=PATH" in line and "not on PyPI" in line
    assert not (tmp_path / "ws" / "current").exists()


def test_dry_run_plans_apex(tmp_path):
    recipes = apex_recipe(tmp_path)
    out = run_cli("setup", "demo", "--recipes", str(recipes), "--dry-run", "--amp", "apex", "--json")
    plan = json.loads(out.stdout)
    assert plan["sources"][0]["name"] == "apex" and plan["sources"][0]["from"] == URL
    assert [(s["id"], s["kind"]) for s in plan["steps"][-2:]] == [("apex-o1-cached-cast", "rewrite"),
                                                                  ("apex-setup-without-cuda", "diff")]
    assert "--no-build-isolation" in plan["build"][-1] and plan["build"][-1].endswith("build/apex")
    native = json.loads(run_cli("setup", "demo", "--recipes", str(recipes), "--dry-run", "--amp", "native",
                                "--json").stdout)
    assert [s["name"] for s in native["sources"]] == ["demo"]


def test_setup_with_an_apex_mirror_installs_the_fix(tmp_path):
    """A git upstream with apex's layout, pinned by the recipe and reached through --mirror; the workspace
    environment gets apex, patched, installed Python-only."""
    mini = tmp_path / "apex-mirror"
    for rel, text in MINI_APEX.items():
        write(mini / rel, text)
    commit = git_repo(mini)
    assert "IndexError" in probe(sys.executable, mini).stderr  # the failure the patch fixes, with real torch
    own = (f'\n[[source]]\nname = "apex"\nkind = "git"\nurl = "{URL}"\ncommit = "{commit}"\n\n[[step]]\n'
           'id = "apex-o1-cached-cast"\nkind = "rewrite"\nsource = "apex"\nrules = ["NPU404"]\n'
           'paths = ["apex/amp/utils.py"]\nwhy = "torch >= 1.10: the weight is next_functions[0]"\n')
    recipes = apex_recipe(tmp_path, own)
    ws = tmp_path / "ws"
    out = run_cli("setup", "demo", "--recipes", str(recipes), "--workspace", str(ws), "--json",
                  "--mirror", f"{URL}={mini.as_uri()}")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert {"id": "apex-o1-cached-cast", "status": "applied", "detail": "1 file(s), 1 change(s)"} in res["steps"]
    assert res["built"] is True
    got = probe(str(ws / "env" / "bin" / "python"))
    assert got.returncode == 0, got.stderr
    assert "site-packages/apex/amp/utils.py" in got.stdout and str(ws / "env") in got.stdout


def real_apex_tree(dest: Path, commit: str) -> Path:
    """The pinned commit's tree, exported from the NVIDIA/apex snapshot (which lacks older history, so it
    serves `git archive`, not `git fetch`): what a site hands over with --source apex=PATH."""
    git = ["git", "-C", str(REAL_APEX)]
    if subprocess.run([*git, "cat-file", "-e", f"{commit}^{{commit}}"]).returncode != 0:
        pytest.skip(f"{REAL_APEX} does not hold apex commit {commit}")
    dest.mkdir(parents=True)
    archive = subprocess.run([*git, "archive", "--format=tar", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


@pytest.mark.skipif(REAL_APEX is None or not REAL_APEX.exists(), reason=NO_APEX)
def test_the_pinned_apex_commit_is_fixed(tmp_path):
    """The real NVIDIA/apex at the pinned commit: the step applies, and O1's cached_cast works on today's torch
    (it raises IndexError before)."""
    from npuport import apex
    from npuport.patches import steps
    from npuport.recipe import Recipe

    source, apex_steps, _ = apex.load_definition()
    tree = real_apex_tree(tmp_path / "apex", source.commit)
    assert "IndexError" in probe(sys.executable, tree).stderr
    setup_py = [sys.executable, "setup.py", "--name"]
    env = {k: v for k, v in os.environ.items() if k != "CUDA_HOME"}
    if not shutil.which("nvcc"):
        assert "TypeError" in subprocess.run(setup_py, cwd=tree, capture_output=True, text=True, env=env).stderr
    recipe = Recipe("apex", "apex", "", tmp_path, (source,), apex_steps)
    results = [steps.run(s, recipe, tree, None, source.pin_label, strict=False) for s in apex_steps]
    assert [r.status for r in results] == ["applied", "applied"], [r.detail for r in results]
    assert [c.line for c in results[0].changes] == [97]
    fixed = probe(sys.executable, tree)
    assert fixed.returncode == 0, fixed.stderr
    named = subprocess.run(setup_py, cwd=tree, capture_output=True, text=True, env=env)
    assert named.returncode == 0 and named.stdout.strip().splitlines()[-1] == "apex", named.stderr


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.skipif(REAL_APEX is None or not REAL_APEX.exists(), reason=NO_APEX)
def test_setup_gcnet_amp_apex(shared_cache, tmp_path):
    from npuport import apex

    tree = real_apex_tree(tmp_path / "apex", apex.load_definition()[0].commit)
    ws = tmp_path / "ws"
    out = run_cli("setup", "gcnet", "--amp", "apex", "--workspace", str(ws), "--json", "--source", f"apex={tree}")
    assert out.returncode == 0, out.stderr
    steps = {s["id"]: s["status"] for s in json.loads(out.stdout)["steps"]}
    assert steps["apex-o1-cached-cast"] == "applied"
    got = probe(str(ws / "env" / "bin" / "python"))
    assert got.returncode == 0 and str(ws / "env") in got.stdout, got.stderr
