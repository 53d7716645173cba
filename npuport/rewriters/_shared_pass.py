"""Check mode in one walk: every rule's visitor rides on a single traversal of the parsed module.

`npuport scan` only reports, so the rules need not rebuild the tree one after another (what `apply` must do,
since each rule sees the code the rules before it wrote). Here each rule's transformer gets its visit_X and
leave_X calls from one shared libcst walk, with the original node as `updated` too; a visit_X that returns
False hides that node's children from that rule only, as in its own walk. The sites are the same as running
every rule on its own (tests/test_shared_pass.py holds that).

The walk itself is ours, not libcst's `module.visit`, which rebuilds and re-validates every node it passes:
children are read in source order (the order libcst's own walk visits each node type's fields, learnt from
the first nodes of each type), and whitespace, comments, brackets, commas and operators, which no rule hooks,
are not walked.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from typing import Callable, Optional

import libcst as cst

from npuport.rewriters.base import RuleTransformer

_Hooks = list[tuple[int, Callable]]


class SharedPass:
    """Fan one walk out to several rule transformers."""

    def __init__(self, transformers: list[RuleTransformer]) -> None:
        self.transformers = transformers
        #: per transformer: the node whose visit_X returned False (its subtree is hidden), or None
        self._hidden: list[Optional[cst.CSTNode]] = [None] * len(transformers)
        self._n_hidden = 0
        #: per node type: (visit hooks, leave hooks)
        self._hooks: dict[type, tuple[_Hooks, _Hooks]] = {}

    def _hooks_of(self, kind: type) -> tuple[_Hooks, _Hooks]:
        visit, leave = "visit_" + kind.__name__, "leave_" + kind.__name__
        hooks = ([(i, getattr(t, visit)) for i, t in enumerate(self.transformers) if visit in own_hooks(type(t))],
                 [(i, getattr(t, leave)) for i, t in enumerate(self.transformers) if leave in own_hooks(type(t))])
        self._hooks[kind] = hooks
        return hooks

    def walk(self, node: cst.CSTNode) -> None:
        """visit_X of every rule that sees the node, its children, then leave_X (original node as `updated`)."""
        kind = type(node)
        visits, leaves = self._hooks.get(kind) or self._hooks_of(kind)
        hidden = self._hidden
        for i, visit in visits:
            if hidden[i] is None and visit(node) is False:
                hidden[i] = node
                self._n_hidden += 1
        if self._n_hidden < len(hidden):  # some rule still sees the children
            walk, skip = self.walk, _SKIP
            for name in _fields(node, kind):
                child = getattr(node, name)
                if type(child) in _SEQUENCES:
                    for item in child:
                        if type(item) not in skip:
                            walk(item)
                elif type(child) not in skip:
                    walk(child)
        for i, leave in leaves:
            if hidden[i] is None or hidden[i] is node:
                leave(node, node)
        if self._n_hidden:
            for i, at in enumerate(hidden):
                if at is node:
                    hidden[i] = None
                    self._n_hidden -= 1


@functools.lru_cache(maxsize=None)
def own_hooks(cls: type) -> frozenset[str]:
    """The visit_X / leave_X methods a rule's transformer defines (not libcst's empty defaults)."""
    return frozenset(name for klass in cls.__mro__ if not klass.__module__.startswith("libcst")
                     for name in vars(klass) if name.startswith(("visit_", "leave_")))


_TOKEN_BASES = (cst.BaseParenthesizableWhitespace, cst.Comment, cst.Newline, cst.EmptyLine, cst.TrailingWhitespace,
             cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace,
             cst.RightCurlyBrace, cst.Comma, cst.Colon, cst.Dot, cst.Semicolon, cst.AssignEqual, cst.BaseBinaryOp,
                cst.BaseBooleanOp, cst.BaseCompOp, cst.BaseUnaryOp, cst.BaseAugOp, cst.Asynchronous, cst.ImportStar)


def _token_types() -> frozenset[type]:
    tokens = {kind for kind in vars(cst).values() if inspect.isclass(kind) and issubclass(kind, _TOKEN_BASES)}
    return frozenset(tokens)


#: nodes no rule hooks and that hold no code: the walk does not enter them
TOKENS = _token_types()
#: what the walk never enters: tokens, and the values an optional field holds when empty
_SKIP = TOKENS | {type(None), cst.MaybeSentinel}
_SEQUENCES = (list, tuple)
#: per node type, the fields that may hold a node other than a token (from libcst's type hints)
_CODE_FIELDS: dict[type, frozenset[str]] = {}
#: per node type, its code fields in source order (libcst's own walk), as far as the nodes seen so far show
_ORDER: dict[type, list[str]] = {}
#: per node type, its code fields not in _ORDER yet (empty in every node of that type seen so far)
_UNSEEN: dict[type, list[str]] = {}


def _code_fields(kind: type) -> frozenset[str]:
    """The dataclass fields of a node type whose type hint names a node type that is not a token: the only
    fields that can hold something a rule hooks (whitespace, brackets, commas and operators cannot)."""
    fields = _CODE_FIELDS.get(kind)
    if fields is None:
        hints = typing.get_type_hints(kind)
        fields = frozenset(f.name for f in dataclasses.fields(kind) if _holds_code(hints.get(f.name)))
        _CODE_FIELDS[kind] = fields
    return fields


def _holds_code(hint: object) -> bool:
    if inspect.isclass(hint):
        return issubclass(hint, cst.CSTNode) and not issubclass(hint, _TOKEN_BASES)
    if typing.get_origin(hint) is typing.Literal:
        return False
    return any(_holds_code(arg) for arg in typing.get_args(hint))


class _FieldOrder(cst.CSTVisitor):
    """Records the fields libcst's walk visits, in its order, one level deep."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        return False

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        if attribute not in self.names:
            self.names.append(attribute)


def _merge(known: list[str], new: list[str]) -> list[str]:
    """Two subsequences of one field order, merged."""
    merged, i, j = [], 0, 0
    while i < len(known) and j < len(new):
        if known[i] == new[j]:
            merged.append(known[i])
            i, j = i + 1, j + 1
        elif known[i] not in new:
            merged.append(known[i])
            i += 1
        else:
            merged.append(new[j])
            j += 1
    return merged + known[i:] + [name for name in new[j:] if name not in merged]


def _filled(value: object) -> bool:
    return isinstance(value, cst.CSTNode) or (isinstance(value, (list, tuple)) and len(value) > 0)


def _fields(node: cst.CSTNode, kind: type) -> list[str]:
    order = _ORDER.get(kind)
    if order is not None:
        for name in _UNSEEN[kind]:
            if _filled(getattr(node, name)):
                break
        else:
            return order
    code = _code_fields(kind)
    recorder = _FieldOrder()
    node._visit_and_replace_children(recorder)
    order = [name for name in _merge(order or [], recorder.names) if name in code]
    _ORDER[kind] = order
    _UNSEEN[kind] = [name for name in code if name not in order]
    return order


def shared_sites(module: cst.Module, transformers: list[RuleTransformer]) -> None:
    """Walk `module` once, filling every transformer's `sites` as its own walk would."""
    SharedPass(transformers).walk(module)
