"""Check mode's one shared walk (npuport/rewriters/_shared_pass.py) finds exactly what every rule finds walking
on its own, and the lean line numbers (base.Lines) are libcst's PositionProvider's. Needs libcst only.

The sources: every fixture in tests/fixtures/rewriters, and snippets that exercise hidden subtrees (a rule
whose visit_X returns False) and site ordering.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from npuport.rewriters import RULES, check
from npuport.rewriters._shared_pass import TOKENS, own_hooks
from npuport.rewriters.base import Lines

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "rewriters").glob("*/*.py"))

SNIPPETS = [
    # NPU102 hides import statements from itself; NPU605 must still see them
    "import torch\nfrom torch.cuda import amp\nimport torchvision\nx = torch.cuda.synchronize()\n",
    # two sites on one line, in source order, 'cuda:N' reached from a call and as a string
    "import torch\nx = torch.zeros(2, device='cuda:0').to('cuda:1'); y = x.cuda()\n",
    # a setup.py building a CUDA extension
    textwrap.dedent("""\
        import torch
        from torch.utils.cpp_extension import CUDAExtension
        ext = CUDAExtension if torch.cuda.is_available() else None
        dev = 'cuda' if torch.cuda.is_available() else 'cpu'
        """),
    textwrap.dedent("""\
        from apex import amp
        model, opt = amp.initialize(model, opt)
        with amp.scale_loss(loss, opt) as scaled:
            scaled.backward()
        opt.step()
        """),
]


@pytest.mark.parametrize("path", FIXTURES, ids=[f"{p.parent.name}/{p.name}" for p in FIXTURES])
def test_shared_pass_finds_what_each_rule_finds(path: Path) -> None:
    source = path.read_text()
    assert check(source, list(RULES)) == check(source, list(RULES), shared=False)


@pytest.mark.parametrize("source", SNIPPETS)
def test_shared_pass_on_snippets(source: str) -> None:
    shared = check(source, list(RULES))
    assert shared, "every snippet has sites"
    assert shared == check(source, list(RULES), shared=False)


def test_no_rule_hooks_a_node_the_walk_skips() -> None:
    for rule in RULES.values():
        hooks = {name.split("_", 1)[1] for name in own_hooks(rule.Transformer)}
        assert hooks and not hooks & {kind.__name__ for kind in TOKENS}, rule.ID


@pytest.mark.parametrize("path", FIXTURES[::7], ids=[f"{p.parent.name}/{p.name}" for p in FIXTURES[::7]])
def test_lines_are_position_providers(path: Path) -> None:
    module = cst.parse_module(path.read_text())
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    nodes = list(positions)
    lines = Lines(module)
    lines.need(nodes)
    assert [lines.line(n) for n in nodes] == [positions[n].start.line for n in nodes]
    # one node alone: the code generation stops early and still agrees
    last = nodes[-1]
    assert Lines(module).line(last) == positions[last].start.line


@pytest.mark.parametrize("path", FIXTURES, ids=[f"{p.parent.name}/{p.name}" for p in FIXTURES])
def test_prefilters_never_skip_a_file_with_sites(path: Path) -> None:
    source = path.read_text()
    module = cst.parse_module(source)
    for rule_id, cls in RULES.items():
        rule = cls()
        if rule.run(module)[1]:
            assert rule.wants(source), f"{rule_id}'s text pre-filter skips {path.name}, where it has sites"
