"""Rules that swap the value given to a name: a parameter's default, an assignment (`device = 'cuda'`,
`dist_backend = 'nccl'`). The rule says which names (`PARAM_NAMES`, `TARGET_WORD`) and how (`_swap`)."""
from __future__ import annotations

from typing import Optional

import libcst as cst

from npuport.rewriters._util import named


class NamedValueSwap:
    """Mixin for a RuleTransformer that defines `_swap_one(value, original) -> new value or None`."""

    PARAM_NAMES: frozenset = frozenset()  # parameters whose default is swapped
    TARGET_WORD = ""  # assignment targets whose last name contains it

    def _swap(self, node: cst.BaseExpression, original: cst.CSTNode) -> Optional[cst.BaseExpression]:
        """The new value, or None to keep it; `a if c else b` swaps each branch."""
        if isinstance(node, cst.IfExp):
            body = self._swap(node.body, original)
            orelse = self._swap(node.orelse, original)
            if body is None and orelse is None:
                return None
            return node.with_changes(body=body or node.body, orelse=orelse or node.orelse)
        return self._swap_one(node, original)

    def _swap_one(self, node: cst.BaseExpression, original: cst.CSTNode) -> Optional[cst.BaseExpression]:
        raise NotImplementedError

    def leave_Param(self, original: cst.Param, updated: cst.Param) -> cst.Param:
        if original.name.value not in self.PARAM_NAMES or updated.default is None:
            return updated
        new = self._swap(updated.default, original)
        return updated if new is None else updated.with_changes(default=new)

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        if not named([t.target for t in original.targets], self.TARGET_WORD):
            return updated
        new = self._swap(updated.value, original)
        return updated if new is None else updated.with_changes(value=new)

    def leave_AnnAssign(self, original: cst.AnnAssign, updated: cst.AnnAssign) -> cst.AnnAssign:
        if updated.value is None or not named([original.target], self.TARGET_WORD):
            return updated
        new = self._swap(updated.value, original)
        return updated if new is None else updated.with_changes(value=new)
