"""What a local name evidently holds, from its assignments earlier in the same function (or module).

Used by the static-shape and dtype rules (NPU201, NPU301, NPU302) to see through a name: `keep = scores > t`
makes `keep` a boolean mask, `inds = m.nonzero().squeeze(1)` an index tensor from nonzero, `_, idx =
x.topk(k)` an int64 index, `a = np.zeros(3)` a numpy array. Only plain names are tracked; a later assignment
replaces the kind, and anything not evident has no kind.
"""

from __future__ import annotations

import re
from typing import Optional

import libcst as cst

from npuport.rewriters._util import dotted, is_boolean, module_aliases
from npuport.rewriters.base import RuleTransformer

MASK, NONZERO, INT64, NUMPY = "mask", "nonzero", "int64", "numpy"
#: methods that keep the kind of their receiver (x.squeeze(1) of an index is an index)
_KEEP = frozenset({"squeeze", "unsqueeze", "view", "reshape", "flatten", "contiguous", "clone", "detach", "t",
                   "to", "cuda", "cpu", "npu", "view_as", "reshape_as", "expand", "expand_as", "repeat"})
_INDEX_METHODS = frozenset({"argmax", "argmin", "argsort", "long"})
#: calls returning (values, indices)
_PAIRS = frozenset({"topk", "sort", "max", "min", "kthvalue", "mode", "median"})


class KindTracker(RuleTransformer):
    """A rule transformer that knows the kinds of local names (self.kind(node))."""

    def visit_Module(self, node: cst.Module) -> None:
        self.numpy_names = module_aliases(node, "numpy") | {"np", "numpy"}
        #: the module imports torch (a module that does not is numpy code: its masks are numpy's)
        self.uses_torch = any(
            isinstance(small, cst.Import) and any((dotted(a.name) or "").split(".")[0] == "torch" for a in small.names)
            or isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative
            and (dotted(small.module) or "").split(".")[0] == "torch"
            for statement in node.body if isinstance(statement, cst.SimpleStatementLine) for small in statement.body)
        self.scopes: list[dict[str, str]] = [{}]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.append({})

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        self.scopes.pop()
        return updated

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        # recorded after the value was visited: `keep = x[keep]` sees the old `keep`
        kind = self.kind(original.value)
        for target in original.targets:
            self._bind(target.target, original.value, kind)
        return updated

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression, kind: Optional[str]) -> None:
        scope = self.scopes[-1]
        if isinstance(target, cst.Name):
            if kind is None:
                scope.pop(target.value, None)
            else:
                scope[target.value] = kind
        elif isinstance(target, (cst.Tuple, cst.List)):
            pair = _pair_call(value)
            for i, element in enumerate(target.elements):
                if isinstance(element.value, cst.Name):
                    scope.pop(element.value.value, None)
                    if pair and i == 1 and len(target.elements) == 2:
                        scope[element.value.value] = INT64  # _, idx = x.topk(k)

    def kind(self, node: cst.BaseExpression) -> Optional[str]:
        """MASK, NONZERO, INT64, NUMPY or None for an expression."""
        if isinstance(node, cst.Name):
            return self.scopes[-1].get(node.value) if self.scopes else None
        if is_boolean(node):
            return MASK
        if isinstance(node, cst.Call):
            name = dotted(node.func) or ""
            if name.split(".")[0] in self.numpy_names:
                return NUMPY
            if name == "torch.nonzero" or (name == "torch.where" and len(node.args) == 1):
                return NONZERO
            if isinstance(node.func, cst.Attribute):
                method, receiver = node.func.attr.value, node.func.value
                if method == "numpy":
                    return NUMPY
                if method == "nonzero":
                    return NONZERO
                if method in _INDEX_METHODS or name in ("torch.argmax", "torch.argmin", "torch.argsort"):
                    return INT64
                if method in _KEEP:
                    return self.kind(receiver)
            if _long_dtype(node):
                return INT64
        if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Call):
            inner = self.kind(node.value)
            if inner == NONZERO:
                return NONZERO  # torch.where(m)[0], m.nonzero()[:, 0]
        return None


def _long_dtype(call: cst.Call) -> bool:
    return any(arg.keyword is not None and arg.keyword.value == "dtype"
               and dotted(arg.value) in ("torch.long", "torch.int64") for arg in call.args)


def _pair_call(value: cst.BaseExpression) -> bool:
    return (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
            and value.func.attr.value in _PAIRS and bool(value.args))


#: `name = <something with a comparison or a boolean method>` on one line
_MASK_LINE = re.compile(r"(?m)^\s*(\w+)\s*=[^=\n]*?(?:[<>~]|[=!]=|\.(?:gt|lt|ge|le|eq|ne|bool|isnan|isinf|"
                        r"isfinite|logical_\w+)\()")
_ALIAS_LINE = re.compile(r"(?m)^\s*(\w+)\s*=\s*\(?(\w+)\.")


def mask_names(source: str) -> set[str]:
    """Text pre-filter: names that some line may assign a boolean mask (and names derived from them, as
    `flat = keep.view(-1)`): a superset of what KindTracker will call MASK. Kept for the last source (NPU301
    and NPU302 both ask for it, one after the other)."""
    if _LAST[0] is source:
        return _LAST[1]
    names = set(_MASK_LINE.findall(source))
    names |= {target for target, origin in _ALIAS_LINE.findall(source) if origin in names}
    _LAST[:] = [source, names]
    return names


_LAST: list = [None, set()]


def indexes_with(source: str, names: set[str]) -> bool:
    """Text pre-filter: some `x[name]` in the source, for one of these names."""
    return any(f"[{name}]" in source or f"[{name} ]" in source or f"[ {name}]" in source for name in names)
