"""docs/rewriters.md's table of torch_npu's transfer_to_npu families is what the rules really do.

Every family in tests/fixtures/transfer_to_npu.json has an upstream snippet; the default rules run on it.
Detected: some rule reports a site (`npuport scan`). Rewritten: `npuport port` fixes it completely: at least one
fix, no site left for a hand, and no `cuda`/`nccl` left in the code. Needs libcst only.

    python tests/test_transfer_coverage.py     # prints the table and totals for docs/rewriters.md
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

from npuport.rewriters import DEFAULT_RULES, apply, check

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = json.loads((ROOT / "tests" / "fixtures" / "transfer_to_npu.json").read_text())["families"]
DOC = ROOT / "docs" / "rewriters.md"
_LEFT = re.compile(r"\bcuda\b|nccl")


def _code_without_comments(source: str) -> str:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return " ".join(t.string for t in tokens if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE))


def coverage() -> list[tuple[str, list[str], bool]]:
    """(family, rules that detect it, rewritten?) for every family, in the data file's order."""
    rows = []
    for family in FAMILIES:
        snippet = "import torch\n" + family["snippet"]
        detected = sorted({c.rule for c in check(snippet, list(DEFAULT_RULES))})
        new, changes = apply(snippet, list(DEFAULT_RULES))
        rewritten = (any(c.fixed for c in changes) and all(c.fixed for c in changes)
                     and not _LEFT.search(_code_without_comments(new)))
        rows.append((family["family"], detected, rewritten))
    return rows


def table() -> str:
    rows = coverage()
    lines = ["| # | transfer_to_npu family | detected by | rewritten |", "| --- | --- | --- | --- |"]
    for i, (family, detected, rewritten) in enumerate(rows, 1):
        lines.append(f"| {i} | {family} | {', '.join(detected) or 'no'} | {'yes' if rewritten else 'no'} |")
    found = sum(bool(d) for _, d, _ in rows)
    fixed = sum(r for _, _, r in rows)
    lines.append("")
    lines.append(f"Totals: detected {found}/{len(rows)}, rewritten {fixed}/{len(rows)}.")
    return "\n".join(lines)


def test_doc_table_is_what_the_rules_do() -> None:
    expected = table()
    doc = DOC.read_text(encoding="utf-8")
    assert expected in doc, ("docs/rewriters.md's transfer_to_npu table is out of date; regenerate it with "
                             "`python tests/test_transfer_coverage.py`:\n" + expected)


def test_coverage_goals() -> None:
    rows = coverage()
    assert len(rows) == 28
    assert sum(bool(d) for _, d, _ in rows) >= 26
    assert sum(r for _, _, r in rows) >= 20


if __name__ == "__main__":
    print(table())
