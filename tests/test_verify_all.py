"""verify-patches over every shipped recipe, as CI runs it: the PyPI sources are real, the git-only upstreams
cannot be reached (GitHub is redirected to a loopback port nobody listens on) and are reported `unreachable`."""

from __future__ import annotations

import json
import socket

import pytest

from conftest import github_mirror, run_cli

pytestmark = pytest.mark.network


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: nobody listens there


def test_every_recipe_holds_or_is_reported_unreachable():
    """An empty cache (a cached clone would serve a git upstream without any network, as it should)."""
    nowhere = f"https://github.com/=http://127.0.0.1:{closed_port()}/"
    out = run_cli("verify-patches", "--mirror", nowhere, "--skip-unreachable", "--json", timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    status = {r["recipe"]: r["status"] for r in json.loads(out.stdout)["recipes"]}
    assert status == {"gcnet": "ok", "gfocalv2": "unreachable", "solov2": "unreachable", "genet": "unreachable",
                      "gcnet-original": "unreachable"}
    strict = run_cli("verify-patches", "genet", "--mirror", nowhere)
    assert strict.returncode == 1 and "unreachable" in strict.stdout and "127.0.0.1" in strict.stdout
    # the closing line says what was not checked and how to reach it, not that patches do not hold
    assert "1 recipe(s) not checked" in strict.stderr and "genet" in strict.stderr and "--mirror" in strict.stderr
    assert "do not hold" not in strict.stderr
    skipped = run_cli("verify-patches", "genet", "gcnet", "--mirror", nowhere, "--skip-unreachable")
    assert skipped.returncode == 0
    assert skipped.stderr.strip().splitlines()[-1].startswith("all reachable patches hold; 1 recipe(s) not checked")


def test_every_recipe_holds_on_the_real_upstreams(shared_cache, tmp_path):
    mirror = github_mirror(tmp_path, "implus/GFocalV2", "WXinlong/SOLO", "BayesWatch/pytorch-GENet", "xvjiarui/GCNet")
    out = run_cli("verify-patches", *mirror, "--json", timeout=900)
    assert out.returncode == 0, out.stdout[-3000:]
    data = json.loads(out.stdout)
    assert data["ok"] and {r["status"] for r in data["recipes"]} == {"ok"}
    assert len(data["recipes"]) == 11  # one per pinned version: gcnet, gfocalv2, gcnet-original 3 each, solov2, genet
    assert sorted(r["pins"]["mmcv"] for r in data["recipes"] if r["recipe"] == "gcnet") == ["1.2.7", "1.3.18", "1.3.8"]
