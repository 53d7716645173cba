"""NPU302: masked assignment -> in-place masked_fill_ / copy_(torch.where(...)).

Before::

    x[x < 0] = 0
    keep = scores > thr
    boxes[keep] = -1
    out[m] = other[m]

After::

    x.masked_fill_(x < 0, 0)
    keep = scores > thr
    boxes.masked_fill_(keep.reshape(keep.shape + (1,) * (boxes.dim() - keep.dim())), -1)
    out.copy_(torch.where(m.reshape(m.shape + (1,) * (out.dim() - m.dim())), other, out))

Why: `x[m] = v` lowers to index_put with a data-dependent number of elements; the fixed-shape forms
compile once on the NPU. The forms are exact: a mask of lower rank than x selects whole rows in
`x[m] = v`, so it is padded with trailing 1-dims to broadcast the same way (when the mask compares x
itself, the shapes already match and no padding is written).

Fixed only when the mask is evidently boolean (a comparison, ~/&/| of comparisons, x.gt(...)-style call,
or a name assigned from one of those earlier in the same function), the target is a name or
attribute chain (evaluated twice), and the value is a number literal (masked_fill_) or `y[m]` with the
same mask (copy_(torch.where)). Any other masked assignment is reported. Not masks, not reported: an
index or key (`counts[k] += 1` on a list or dict), and any assignment into a numpy array (a name assigned
from np.* or .numpy()), where `a[a < 0] = 0` is numpy's own idiom and masked_fill_ does not exist.
"""

from __future__ import annotations

import re
from typing import Optional

import libcst as cst

from npuport.rewriters._kinds import MASK, NUMPY, KindTracker, indexes_with, mask_names
from npuport.rewriters._util import code, expr, is_boolean, is_number, simple_target
from npuport.rewriters.base import Rule


class _MaskedAssign(KindTracker):
    def _is_mask(self, mask: cst.BaseExpression) -> bool:
        return is_boolean(mask) or (isinstance(mask, cst.Name) and self.kind(mask) == MASK)

    def _numpy(self, target: cst.BaseExpression) -> bool:
        return isinstance(target, cst.Subscript) and self.kind(target.value) == NUMPY

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        body = list(updated.body)
        changed = False
        for i, (old, small) in enumerate(zip(original.body, updated.body)):
            if isinstance(small, cst.AugAssign):
                mask = _mask(small.target)
                if mask is None or not self._is_mask(mask) or self._numpy(small.target):
                    continue  # counts[k] += 1 on a list, a dict or an index: not a mask
                self.report(old, "augmented masked assignment x[m] op= v: data-dependent shape; "
                                 "rewrite as x.add_(v * m) or torch.where by hand")
                continue
            if not isinstance(small, cst.Assign) or len(small.targets) != 1:
                continue
            new = self._rewrite(old, small)  # type: ignore[arg-type]
            if new is not None:
                body[i] = new
                changed = True
        return updated.with_changes(body=body) if changed else updated

    def _rewrite(self, original: cst.Assign, node: cst.Assign) -> Optional[cst.BaseSmallStatement]:
        target = node.targets[0].target
        mask = _mask(target)
        if mask is None:
            return None
        x = target.value  # type: ignore[union-attr]
        if not self._is_mask(mask):
            return None  # an index, not a mask: static unless the index itself came from nonzero
        if self._numpy(target):
            return None  # a numpy array: a[a < 0] = 0 is numpy's own masked assignment, no masked_fill_
        if not simple_target(x):
            self.report(original, "masked assignment to a complex target: data-dependent shape; "
                                  "bind the target to a name or use masked_fill_ by hand")
            return None
        mask_code = self._mask_code(mask, x)
        if mask_code is None:
            self.report(original, "masked assignment with an inline mask that does not compare the target: "
                                  "bind the mask to a name first so that it can be padded")
            return None
        xs = code(x)
        value = node.value
        if is_number(value):
            self.fix(original, f"{xs}[mask] = {code(value)} -> {xs}.masked_fill_(mask, {code(value)})")
            return cst.Expr(expr(f"{xs}.masked_fill_({mask_code}, {code(value)})"))
        other = _mask(value)
        if other is not None and other.deep_equals(mask):
            ys = code(value.value)  # type: ignore[attr-defined]
            self.need_import("torch")
            self.fix(original, f"{xs}[m] = {ys}[m] -> {xs}.copy_(torch.where(m, {ys}, {xs}))")
            return cst.Expr(expr(f"{xs}.copy_(torch.where({mask_code}, {ys}, {xs}))"))
        self.report(original, "masked assignment of a non-literal value: data-dependent shape; "
                              "use x.copy_(torch.where(m, y, x)) when y has x's shape")
        return None

    def _mask_code(self, mask: cst.BaseExpression, x: cst.BaseExpression) -> Optional[str]:
        if _compares(mask, x):
            return code(mask)
        if isinstance(mask, cst.Name):
            m, xs = mask.value, code(x)
            return f"{m}.reshape({m}.shape + (1,) * ({xs}.dim() - {m}.dim()))"
        return None


def _mask(node: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    if (isinstance(node, cst.Subscript) and len(node.slice) == 1
            and isinstance(node.slice[0].slice, cst.Index) and node.slice[0].slice.star is None):
        return node.slice[0].slice.value
    return None


def _compares(mask: cst.BaseExpression, x: cst.BaseExpression) -> bool:
    """Some comparison in the mask has x itself as an operand, so the mask has x's shape."""
    if isinstance(mask, cst.Comparison):
        return mask.left.deep_equals(x) or any(t.comparator.deep_equals(x) for t in mask.comparisons)
    if isinstance(mask, cst.UnaryOperation):
        return _compares(mask.expression, x)
    if isinstance(mask, cst.BinaryOperation):
        return _compares(mask.left, x) or _compares(mask.right, x)
    if isinstance(mask, cst.Call) and isinstance(mask.func, cst.Attribute):
        return mask.func.value.deep_equals(x)
    return False


class MaskedAssignRule(Rule):
    ID = "NPU302"
    DESCRIPTION = ("rewrite x[mask] = number to x.masked_fill_(mask, number) and x[m] = y[m] to "
                   "x.copy_(torch.where(m, y, x)) when the mask is evidently boolean; report the rest")
    FIXABLE = True
    TRIGGERS = ("] =", "]=", "] +=", "] -=", "] *=", "] /=")
    PATTERN = r"\]\s*(?:[-+*/|&]?=)(?!=)"
    Transformer = _MaskedAssign

    def wants(self, source: str) -> bool:
        """A subscript assignment, and a mask for it: inline in its brackets or a name assigned one."""
        return super().wants(source) and (_INLINE.search(source) is not None
                                          or indexes_with(source, mask_names(source)))


#: a comparison or boolean method inside brackets followed by an assignment
_INLINE = re.compile(r"\[[^\]\n]*(?:[<>~]|[=!]=|\.(?:gt|lt|ge|le|eq|ne|bool|isnan|isinf|isfinite|logical_\w+)\()"
                     r"[^\]\n]*\]\s*[-+*/|&]?=(?!=)")
