"""Golden fixtures for every rewriter rule, and the registry contract. Needs libcst only, not torch:
the behaviour checks with real torch are in test_rewriters_torch.py.

A case is two files, tests/fixtures/rewriters/<ID>/<case>.in.py and <case>.out.py; the first line of the
input is `# sites: <line> ...`, the lines the rule must report (once per site).
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import libcst as cst
import pytest

import npuport.rewriters as rewriters
from npuport.errors import NpuportError, UsageError
from npuport.rewriters import RULES, apply, check, get, resolve

FIXTURES = Path(__file__).parent / "fixtures" / "rewriters"
CASES = sorted(FIXTURES.glob("*/*.in.py"))
DIRECT = ("NPU111", "NPU112", "NPU113", "NPU114")
FAMILIES = {"1": "device", "2": "dtype", "3": "static shapes", "4": "mixed precision", "5": "timing",
            "6": "compatibility"}


def _case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name[:-len('.in.py')]}"


def _comments(source: str) -> list[str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [t.string for t in tokens if t.type == tokenize.COMMENT]


def _expected_lines(source: str) -> list[int]:
    header = source.splitlines()[0]
    assert header.startswith("# sites:"), "the first line of a fixture input lists the expected sites"
    return [int(n) for n in header[len("# sites:"):].split()]


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_fixture(case: Path) -> None:
    rule = RULES[case.parent.name]()
    source = case.read_text()
    expected = case.with_name(case.name.replace(".in.py", ".out.py")).read_text()

    new, changes = rule.transform(cst.parse_module(source))
    assert new.code == expected
    assert [c.line for c in changes] == _expected_lines(source)
    assert all(c.rule == rule.ID and c.message for c in changes)
    if not rule.FIXABLE:
        assert new.code == source and not any(c.fixed for c in changes)
    compile(new.code, str(case), "exec")

    # comments survive
    out_comments = _comments(new.code)
    for comment in _comments(source):
        assert comment in out_comments, f"comment lost: {comment}"

    # idempotent: a second run fixes nothing and changes nothing
    again, second = rule.transform(cst.parse_module(new.code))
    assert again.code == new.code
    assert not any(c.fixed for c in second)


CONFIG_CASES = sorted(FIXTURES.glob("*/*.in.yaml"))


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[_case_id(c).replace(".in.yaml", "") for c in CONFIG_CASES])
def test_config_fixture(case: Path) -> None:
    """Device and backend settings in YAML configs (npuport/rewriters/_config_files.py): the default rules
    report them, the direct flavour rewrites them, other keys stay; the same header and .out layout."""
    from npuport.rewriters import _config_files

    source = case.read_text()
    expected = case.with_name(case.name.replace(".in.yaml", ".out.yaml")).read_text()
    new, changes = _config_files.apply(source, [case.parent.name])
    assert new == expected
    assert [c.line for c in changes] == _expected_lines(source)
    assert all(c.rule == case.parent.name and c.message for c in changes)
    assert all(c.fixed == (case.parent.name in DIRECT) for c in changes)
    assert _config_files.apply(new, [case.parent.name])[0] == new


def test_config_json_and_settings_that_are_not_device_ones() -> None:
    from npuport.rewriters import _config_files

    text = '{"device": "cuda:0", "dist": {"backend": "nccl"}, "type": "cuda", "cuda": "nccl", "note": "device: cuda"}'
    new, changes = _config_files.apply(text, ["NPU113", "NPU114"])
    assert new == '{"device": "npu:0", "dist": {"backend": "hccl"}, "type": "cuda", "cuda": "nccl", "note": "device: cuda"}'
    assert [c.rule for c in changes] == ["NPU113", "NPU114"] and all(c.fixed for c in changes)
    # the default rules report, and write nothing
    assert _config_files.apply(text, ["NPU103", "NPU104"])[0] == text
    assert [c.line for c in _config_files.check("a: 1\ndevice: cuda\n", ["NPU103"])] == [2]
    assert _config_files.check("backend: gloo\ndevice: cpu\ncuda_device_name: x\n", ["NPU103", "NPU104"]) == []


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_every_rule_has_fixtures_including_one_that_must_not_change(rule_id: str) -> None:
    cases = sorted((FIXTURES / rule_id).glob("*.in.py"))
    assert cases, f"no fixtures for {rule_id}"
    outputs = {c: c.with_name(c.name.replace(".in.py", ".out.py")).read_text() for c in cases}
    unchanged = [c for c in cases if outputs[c] == c.read_text() and not _expected_lines(c.read_text())]
    assert unchanged, f"{rule_id} needs a case with no sites and no change"
    reporting = [c for c in cases if _expected_lines(c.read_text())]
    assert reporting, f"{rule_id} needs a case with sites"
    if RULES[rule_id].FIXABLE:
        assert any(outputs[c] != c.read_text() for c in cases), f"{rule_id} is fixable but no case changes"


def test_registry_ids_distinct_and_in_families() -> None:
    ids = [cls.ID for cls in RULES.values()]
    assert len(ids) == len(set(ids))
    assert list(RULES) == ids
    for rule_id, cls in RULES.items():
        assert re.fullmatch(r"NPU[1-6]\d\d", rule_id), rule_id
        assert cls.DESCRIPTION and "\n" not in cls.DESCRIPTION
        assert isinstance(cls.FIXABLE, bool)
        assert cls.TRIGGERS, f"{rule_id} needs a text pre-filter"
        module = sys.modules[cls.__module__]
        doc = module.__doc__ or ""
        assert doc.startswith(f"{rule_id}:"), f"{cls.__module__} docstring must start with its ID"
        assert "Why:" in doc and ("Before" in doc or "Upstream idiom" in doc)
    assert {rule_id[3] for rule_id in RULES} == set(FAMILIES)


def test_one_rule_per_module() -> None:
    modules = [cls.__module__ for cls in RULES.values()]
    assert len(modules) == len(set(modules))
    package = Path(rewriters.__file__).parent
    rule_files = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_") and p.stem != "base"}
    assert rule_files == {m.rsplit(".", 1)[1] for m in modules}


def test_get_unknown_rule_lists_known_ids() -> None:
    assert get("npu101") is RULES["NPU101"]
    with pytest.raises(UsageError) as error:
        get("NPU999")
    assert "NPU999" in str(error.value) and "NPU101" in str(error.value) and "NPU605" in str(error.value)


def test_resolve_selection() -> None:
    assert "NPU111" not in resolve(None)  # the direct-NPU flavour is opt-in
    assert resolve(["NPU6"]) == ["NPU601", "NPU602", "NPU603", "NPU604", "NPU605", "NPU606", "NPU607"]
    assert resolve(["NPU101,NPU301"], fixable_only=True) == ["NPU101"]
    with pytest.raises(UsageError):
        resolve(["NPU7"])


def test_import_is_light() -> None:
    code = "import sys, npuport.rewriters; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_prefilter_skips_parsing() -> None:
    rule = RULES["NPU101"]()
    assert not rule.wants("x = 1\n")
    assert rule.wants("x.cuda()\n")
    # not valid Python, but nothing can match: no parse, no error
    assert apply("def (:\n", ["NPU101"]) == ("def (:\n", [])
    with pytest.raises(NpuportError, match="broken.py"):
        apply("x.cuda(\n", ["NPU101"], path="broken.py")


def test_apply_runs_rules_in_order_and_adds_one_import() -> None:
    source = textwrap.dedent("""\
        import torch

        torch.cuda.set_device(0)
        x = torch.zeros(2, device='cuda').cuda()
        """)
    new, changes = apply(source, ["NPU101", "NPU102", "NPU103"])
    assert new.count("import npuport.runtime") == 1
    assert "npuport.runtime.set_device(0)" in new
    assert "torch.zeros(2, device=npuport.runtime.device_type()).to(npuport.runtime.current())" in new
    assert [c.rule for c in changes] == ["NPU101", "NPU102", "NPU103"]
    assert check(source, ["NPU101", "NPU102", "NPU103"]) == changes  # same lines on the unchanged source


def test_report_only_rule_leaves_source_unchanged_in_apply() -> None:
    source = "import torch\nidx = (x > 0).nonzero()\n"
    new, changes = apply(source, ["NPU301"])
    assert new == source and len(changes) == 1 and not changes[0].fixed


def test_tables_are_package_data() -> None:
    """The rules' tables (API maps, numpy aliases, torch_npu names) are JSON files shipped as package data."""
    from npuport.rewriters import numpy_aliases, torch_cuda_api
    from npuport.rewriters._util import data

    root = Path(rewriters.__file__).parent
    tables = sorted(p.stem for p in (root / "data").glob("*.json"))
    assert tables == ["npu_ops", "numpy_aliases", "runtime_api", "torch_npu_names"]
    assert torch_cuda_api.API is data("runtime_api")["api"] and torch_cuda_api.API["manual_seed"] == "manual_seed_all"
    assert numpy_aliases.ALIASES is data("numpy_aliases")["aliases"]
    setup_cfg = (root.parent.parent / "setup.cfg").read_text()
    assert "npuport.rewriters = data/*.json" in setup_cfg
    assert not (root / "_device.py").exists()  # each rule's fix lives in its rule file
