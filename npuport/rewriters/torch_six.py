"""NPU601: `torch._six` (removed in torch 2.0) -> the standard library.

Before::

    from torch._six import inf, string_classes, int_classes, container_abcs

After::

    from math import inf
    string_classes = (str, bytes)
    int_classes = int
    import collections.abc as container_abcs

Why: the torch in an Ascend CANN environment today (torch_npu needs torch >= 2.1) has no torch._six, so
mmcv 1.x and mmdet 2.x fail at import. The replacements are the values torch._six used to hold
(string_classes was (str, bytes)); binding the same names keeps every use unchanged. Attribute uses
(`torch._six.inf`) are rewritten in place; other torch._six names are reported.
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters._util import dotted, expr, stmt
from npuport.rewriters.base import Rule, RuleTransformer

#: name -> (statement binding `{alias}`, expression for attribute use)
REPLACEMENTS = {
    "inf": ("from math import inf{asname}", "math.inf"),
    "nan": ("from math import nan{asname}", "math.nan"),
    "string_classes": ("{alias} = (str, bytes)", "(str, bytes)"),
    "int_classes": ("{alias} = int", "int"),
    "container_abcs": ("import collections.abc as {alias}", "collections.abc"),
    "PY3": ("{alias} = True", "True"),
    "PY37": ("{alias} = True", "True"),
}


class _TorchSix(RuleTransformer):
    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine):
        if len(updated.body) != 1 or not isinstance(updated.body[0], cst.ImportFrom):
            return updated
        node = updated.body[0]
        if node.module is None or dotted(node.module) != "torch._six" or isinstance(node.names, cst.ImportStar):
            return updated
        lines = []
        for alias in node.names:
            name = alias.name.value
            local = alias.asname.name.value if alias.asname else name  # type: ignore[union-attr]
            if name not in REPLACEMENTS:
                self.report(original, f"torch._six.{name} has no known replacement: rewrite by hand")
                return updated
            template = REPLACEMENTS[name][0]
            asname = f" as {local}" if local != name else ""
            lines.append(stmt(template.format(alias=local, asname=asname)))
        names = ", ".join(a.name.value for a in node.names)  # type: ignore[union-attr]
        self.fix(original, f"from torch._six import {names} -> standard library")
        lines[0] = lines[0].with_changes(leading_lines=updated.leading_lines)
        lines[-1] = lines[-1].with_changes(trailing_whitespace=updated.trailing_whitespace)
        return cst.FlattenSentinel(lines)

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        if dotted(original.value) != "torch._six":
            return updated
        name = original.attr.value
        if name not in REPLACEMENTS:
            self.report(original, f"torch._six.{name} has no known replacement: rewrite by hand")
            return updated
        replacement = REPLACEMENTS[name][1]
        self.fix(original, f"torch._six.{name} -> {replacement}")
        if replacement.startswith("math."):
            self.need_import("math")
        elif replacement.startswith("collections."):
            self.need_import("collections.abc")
        return expr(replacement)


class TorchSixRule(Rule):
    ID = "NPU601"
    DESCRIPTION = "replace torch._six imports (inf, string_classes, int_classes, container_abcs) with the stdlib"
    FIXABLE = True
    TRIGGERS = ("torch._six",)
    Transformer = _TorchSix
