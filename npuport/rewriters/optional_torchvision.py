"""NPU605: make a module-level torchvision import optional.

Before::

    import torchvision
    from torchvision.ops import nms as tv_nms

After::

    try:
        import torchvision
    except ImportError as import_error:  # torchvision is optional (npuport)
        import npuport.runtime
        torchvision = npuport.runtime.missing("torchvision", import_error)
    try:
        from torchvision.ops import nms as tv_nms
    except ImportError:  # torchvision is optional (npuport)
        tv_nms = None

Why: Ascend environments ship torch and torch_npu, often without a torchvision build that matches them,
and mmcv imports torchvision at module level only for `torchvision://` checkpoint URLs. Failing there
stops every import of mmcv.runner. Only top-level import statements outside any try are wrapped. A name that
functions use becomes `npuport.runtime.missing(...)` when torchvision is absent: falsy, and any use raises an
ImportError that names it (not "'NoneType' object has no attribute 'ops'"); a name never used, or only
tested with `is None`, becomes None (`tv_nms` above). A name used at import time (module level, class body) is
reported and left alone: wrapping would only move the failure to that use.
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


def _bound(node: cst.BaseSmallStatement) -> list[tuple[str, str]]:
    """(name bound, what it stands for) of a torchvision import: ('tv_nms', 'torchvision.ops.nms')."""
    names = _bound_names(node)
    if not names:
        return []
    if isinstance(node, cst.Import):
        return [(name, name if alias.asname is None else dotted(alias.name) or name)
                for name, alias in zip(names, node.names)]
    module = dotted(node.module) if isinstance(node, cst.ImportFrom) and node.module is not None else ""
    return [(name, f"{module}.{alias.name.value}")  # type: ignore[union-attr]
            for name, alias in zip(names, node.names)]  # type: ignore[arg-type]


class _OptionalTorchvision(RuleTransformer):
    def __init__(self, rule) -> None:
        super().__init__(rule)
        self._depth = 0  # inside a def or lambda: runs later, not at import
        self._ignore: set[int] = set()  # Name nodes that are not uses: attribute names, keywords
        self._uses: dict[str, list[bool]] = {}  # name -> for each use, whether it runs at import time

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._depth += 1

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        self._depth -= 1
        return updated

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._depth += 1

    def leave_Lambda(self, original: cst.Lambda, updated: cst.Lambda) -> cst.BaseExpression:
        self._depth -= 1
        return updated

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._ignore.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._ignore.add(id(node.keyword))

    def visit_Comparison(self, node: cst.Comparison) -> bool:
        # `torchvision is None` is how code asks whether the optional import worked: not a use
        return not (isinstance(node.left, cst.Name) and len(node.comparisons) == 1
                    and isinstance(node.comparisons[0].operator, (cst.Is, cst.IsNot))
                    and isinstance(node.comparisons[0].comparator, cst.Name)
                    and node.comparisons[0].comparator.value == "None")

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) not in self._ignore:
            self._uses.setdefault(node.value, []).append(self._depth == 0)

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        body = list(updated.body)
        changed = False
        for i, (old, statement) in enumerate(zip(original.body, updated.body)):
            if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
                continue
            bound = _bound(statement.body[0])
            if not bound:
                continue
            uses = {name: self._uses.get(name, []) for name, _ in bound}
            at_import = [name for name, flags in uses.items() if any(flags)]
            if at_import:
                self.report(old, f"{code(statement.body[0])} left as is: {', '.join(at_import)} is used at import "
                                 "time, so an optional import would only move the failure; guard that use by hand")
                continue
            if any(uses.values()):
                # used later, in functions: a stand-in that names what is missing when it is used
                # imported here: the module's own imports may come after this one
                fallback = "\n    ".join(["import npuport.runtime"] + [
                    f'{name} = npuport.runtime.missing("{what}", import_error)' for name, what in bound])
                handler = f"except ImportError as import_error:  {_COMMENT}\n    {fallback}\n"
                how = "a stand-in that raises ImportError when used"
            else:
                fallback = " = ".join(dict.fromkeys(name for name, _ in bound)) + " = None"
                handler = f"except ImportError:  {_COMMENT}\n    {fallback}\n"
                how = "None when absent"
            inner = statement.with_changes(leading_lines=[])
            template = cst.parse_statement(f"try:\n    pass\n{handler}")
            wrapped = template.with_changes(body=template.body.with_changes(body=[inner]),  # type: ignore
                                            leading_lines=statement.leading_lines)
            body[i] = wrapped
            changed = True
            self.fix(old, f"{code(statement.body[0])} wrapped in try/except ImportError ({how})")
        return updated.with_changes(body=body) if changed else updated


class OptionalTorchvisionRule(Rule):
    ID = "NPU605"
    DESCRIPTION = ("wrap module-level torchvision imports in try/except ImportError (a stand-in that raises when "
                   "used, or None when unused); report names used at import time")
    FIXABLE = True
    TRIGGERS = ("torchvision",)
    PATTERN = r"(?m)^(import torchvision|from torchvision[\w.]* import)"
    Transformer = _OptionalTorchvision
