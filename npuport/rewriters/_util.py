"""Small helpers shared by the rules: dotted names, building expressions, cuda strings, the data tables."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Optional

import libcst as cst

RUNTIME = "npuport.runtime"
_DATA = Path(__file__).parent / "data"
_CUDA_STRING = re.compile(r"""^(?P<q>[rRuU]?['"])cuda(?::(?P<index>\d+))?['"]$""")
_ATOMS = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.SimpleString, cst.Integer, cst.Float)
BOOL_METHODS = frozenset({"ge", "gt", "le", "lt", "eq", "ne", "isnan", "isinf", "isfinite", "logical_and",
                          "logical_or", "logical_not", "bool"})


_TENSOR_COMPARISONS = (cst.LessThan, cst.LessThanEqual, cst.GreaterThan, cst.GreaterThanEqual, cst.Equal, cst.NotEqual)


def dotted(node: cst.CSTNode) -> Optional[str]:
    """'torch.cuda.synchronize' for a Name/Attribute chain, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = dotted(node.value)
        return None if head is None else f"{head}.{node.attr.value}"
    return None


def expr(code: str) -> cst.BaseExpression:
    return cst.parse_expression(code)


def stmt(code: str) -> cst.BaseStatement:
    return cst.parse_statement(code)


def code(node: cst.CSTNode) -> str:
    """Source text of a node (without its surrounding whitespace)."""
    return cst.Module(body=[]).code_for_node(node).strip()


def atom(node: cst.BaseExpression) -> cst.BaseExpression:
    """The node, parenthesized when it would bind looser than an attribute access."""
    if isinstance(node, _ATOMS) or node.lpar:
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def method(receiver: cst.BaseExpression, name: str, args: tuple[cst.Arg, ...] = ()) -> cst.Call:
    """`receiver.name(args)`, parenthesizing the receiver when needed."""
    return cst.Call(func=cst.Attribute(value=atom(receiver), attr=cst.Name(name)), args=list(args))


def strip_comma(args: list[cst.Arg]) -> list[cst.Arg]:
    """Drop the trailing comma of the last argument so that a shortened list stays tidy."""
    if args and args[-1].comma is not cst.MaybeSentinel.DEFAULT:
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return args


def is_boolean(node: cst.BaseExpression) -> bool:
    """Evidently a boolean tensor: a comparison, ~/&/| of those, or x.gt(...)-style calls."""
    if isinstance(node, cst.Comparison):  # an order or equality, not `in` / `is`
        return all(isinstance(t.operator, _TENSOR_COMPARISONS) for t in node.comparisons)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.BitInvert):
        return is_boolean(node.expression)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.BitAnd, cst.BitOr, cst.BitXor)):
        return is_boolean(node.left) and is_boolean(node.right)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        return node.func.attr.value in BOOL_METHODS
    return False


def is_number(node: cst.BaseExpression) -> bool:
    """A literal number (or -number), or True/False."""
    if isinstance(node, (cst.Integer, cst.Float)):
        return True
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        return isinstance(node.expression, (cst.Integer, cst.Float))
    return isinstance(node, cst.Name) and node.value in ("True", "False")


def module_aliases(module: cst.Module, target: str) -> set[str]:
    """Names the module's top-level imports bind to `target`: `import numpy as np` -> {'np'}."""
    names: set[str] = set()
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    if dotted(alias.name) == target:
                        names.add(alias.asname.name.value if alias.asname else target)  # type: ignore[union-attr]
    return names


def simple_target(node: cst.BaseExpression) -> bool:
    """A Name or a Name.attr chain: safe to evaluate twice."""
    return dotted(node) is not None


@functools.lru_cache(maxsize=None)
def data(name: str) -> dict:
    """A table of npuport/rewriters/data/NAME.json (package data)."""
    return json.loads((_DATA / f"{name}.json").read_text(encoding="utf-8"))


def keyword(arg: cst.Arg) -> str:
    """The argument's keyword, '' when positional."""
    return "" if arg.keyword is None else arg.keyword.value


def named(targets: list, word: str) -> bool:
    """Some assignment target's last name contains `word`: `device = ...`, `self.dist_backend = ...`.
    Other names (`mode = 'cuda'`) are not evidently a device or a backend."""
    for target in targets:
        name = dotted(target) or ""
        if word in name.rsplit(".", 1)[-1].lower():
            return True
    return False


def swap_cuda_string(node: cst.BaseExpression, flavour: str) -> Optional[tuple[cst.BaseExpression, str]]:
    """'cuda' / 'cuda:N' -> the flavour's device expression and a message; None for anything else."""
    if not isinstance(node, cst.SimpleString):
        return None
    match = _CUDA_STRING.match(node.value)
    if match is None:
        return None
    index = match.group("index")
    if flavour == "npu":
        new = node.value.replace("cuda", "npu", 1)
        return node.with_changes(value=new), f"{node.value} -> {new}"
    if index is None:
        return expr(f"{RUNTIME}.device_type()"), f"{node.value} -> {RUNTIME}.device_type()"
    return (expr(f'f"{{{RUNTIME}.device_type()}}:{index}"'),
            f"{node.value} -> f'{{{RUNTIME}.device_type()}}:{index}'")


def npu_flavour(cls: type) -> type:
    """The same transformer, in the direct NPU flavour (class attribute flavour = "npu")."""
    return type(f"Npu{cls.__name__}", (cls,), {"flavour": "npu"})
