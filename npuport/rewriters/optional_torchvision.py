"""NPU605: make a module-level torchvision import optional.

Before::

    import torchvision
    from torchvision.ops import nms as tv_nms

After::

    try:
        import torchvision
    except ImportError:  # torchvision is optional (npuport)
        torchvision = None
    try:
        from torchvision.ops import nms as tv_nms
    except ImportError:  # torchvision is optional (npuport)
        tv_nms = None

Why: Ascend environments ship torch and torch_npu, often without a torchvision build that matches them,
and mmcv imports torchvision at module level only for `torchvision://` checkpoint URLs. Failing there
stops every import of mmcv.runner. Only top-level import statements outside any try are wrapped; a use
of the name when torchvision is absent still fails, at the use, with a clear AttributeError/TypeError.
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters._util import code, dotted
from npuport.rewriters.base import Rule, RuleTransformer

_COMMENT = "# torchvision is optional (npuport)"


def _bound_names(node: cst.BaseSmallStatement) -> list[str]:
    if isinstance(node, cst.Import):
        if not all((dotted(a.name) or "").split(".")[0] == "torchvision" for a in node.names):
            return []
        return [a.asname.name.value if a.asname else (dotted(a.name) or "").split(".")[0]  # type: ignore
                for a in node.names]
    if isinstance(node, cst.ImportFrom) and node.module is not None and not node.relative:
        if (dotted(node.module) or "").split(".")[0] != "torchvision" or isinstance(node.names, cst.ImportStar):
            return []
        return [a.asname.name.value if a.asname else a.name.value for a in node.names]  # type: ignore
    return []


class _OptionalTorchvision(RuleTransformer):
    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        body = list(updated.body)
        changed = False
        for i, (old, statement) in enumerate(zip(original.body, updated.body)):
            if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
                continue
            names = _bound_names(statement.body[0])
            if not names:
                continue
            inner = statement.with_changes(leading_lines=[])
            fallback = " = ".join(dict.fromkeys(names)) + " = None"
            template = cst.parse_statement(f"try:\n    pass\nexcept ImportError:  {_COMMENT}\n    {fallback}\n")
            wrapped = template.with_changes(body=template.body.with_changes(body=[inner]),  # type: ignore
                                            leading_lines=statement.leading_lines)
            body[i] = wrapped
            changed = True
            self.fix(old, f"{code(statement.body[0])} wrapped in try/except ImportError")
        return updated.with_changes(body=body) if changed else updated


class OptionalTorchvisionRule(Rule):
    ID = "NPU605"
    DESCRIPTION = "wrap module-level torchvision imports in try/except ImportError (name = None when absent)"
    FIXABLE = True
    TRIGGERS = ("torchvision",)
    PATTERN = r"(?m)^(import torchvision|from torchvision[\w.]* import)"
    Transformer = _OptionalTorchvision
