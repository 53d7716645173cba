"""NPU607: mmdet 0.x/1.x's compiled op modules -> npuport.runtime.mmdet_ops.

Before::

    from .. import roi_align_cuda
    from . import nms_cpu, nms_cuda
    from .soft_nms_cpu import soft_nms_cpu
    ...
        if features.is_cuda:
            roi_align_cuda.forward(features, rois, out_h, out_w, spatial_scale, sample_num, output)
        else:
            raise NotImplementedError
    ...
        assert (feature_size is not None and grad_output.is_cuda)

After::

    from npuport.runtime.mmdet_ops import roi_align_cuda
    from npuport.runtime.mmdet_ops import nms_cpu, nms_cuda
    from npuport.runtime.mmdet_ops import soft_nms_cpu
    ...
        roi_align_cuda.forward(features, rois, out_h, out_w, spatial_scale, sample_num, output)
    ...
        assert feature_size is not None

Why: mmdet before 2.0 compiled its ops (`compile.sh`, CUDA) into modules inside its own tree; they do not
build on torch 2.x, nor exist on an NPU. npuport.runtime.mmdet_ops keeps their names and calling conventions
(pure PyTorch, torch_npu kernels on an NPU), so the autograd Functions around them run unchanged once their
imports point there and their `is_cuda` guards are gone.

Rewritten: relative imports of compiled modules (`from . import nms_cuda`) and of names from one
(`from .compiling_info import get_compiler_version`), when npuport provides every name; in a module that then
imports them, `if x.is_cuda: ... else: raise NotImplementedError` around a call into one becomes its body,
and `assert (a and x.is_cuda)` before one becomes `assert a`. An import of a compiled module npuport does not
provide is reported; one it provides without a kernel (deform_conv_cuda, ...) is redirected, so the package
imports, and its fix message says that a call raises MissingOpError.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Optional

import libcst as cst

from npuport.rewriters._util import code
from npuport.rewriters.base import Rule, RuleTransformer

TARGET = "npuport.runtime.mmdet_ops"


@functools.lru_cache(maxsize=1)
def provided() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(the compiled modules npuport.runtime.mmdet_ops stands in for, every name it exports, the modules with
    working functions), read from its source so that this libcst-only rule needs no torch: the module-level
    `X = Extension(...)` (working when given functions) or `X = _missing(...)` assignments, and __all__."""
    tree = ast.parse((Path(__file__).parents[1] / "runtime" / "mmdet_ops.py").read_text(encoding="utf-8"))
    modules: set[str] = set()
    exported: set[str] = set()
    working: set[str] = set()
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            continue
        name = node.targets[0].id
        if name == "__all__":
            exported = set(ast.literal_eval(node.value))
        elif isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name) and \
                node.value.func.id in ("Extension", "_missing"):
            modules.add(name)
            if node.value.keywords:
                working.add(name)
    return frozenset(modules), frozenset(exported), frozenset(working)


def _module_tail(node: cst.ImportFrom) -> Optional[str]:
    """`soft_nms_cpu` of `from .soft_nms_cpu import x`, '' of `from .. import x`."""
    if node.module is None:
        return ""
    return code(node.module).rsplit(".", 1)[-1]


class _CompiledOps(RuleTransformer):
    def visit_Module(self, node: cst.Module) -> bool:
        self.redirected: set[str] = set()
        return True

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom) -> cst.ImportFrom:
        if isinstance(original.names, cst.ImportStar):
            return updated
        bound = [alias.asname.name.value if alias.asname else alias.name.value for alias in original.names]
        if not original.relative:
            if original.module is not None and code(original.module) == TARGET:
                self.redirected.update(bound)  # ported already: its guards may still be there
            return updated
        modules, exported, working = provided()
        names = [alias.name.value for alias in original.names]
        tail = _module_tail(original)
        compiled = [n for n in names if n in modules] if not tail else (names if tail in modules else [])
        if not compiled:
            return updated
        missing = [n for n in names if n not in exported or not tail and n not in modules]
        if missing:
            self.report(original, f"compiled op import {code(original)}: npuport.runtime.mmdet_ops has no "
                                  f"{', '.join(missing)}")
            return updated
        self.redirected.update(bound)
        stubs = [n for n in names if (tail or n) in modules and (tail or n) not in working]
        note = f" ({', '.join(stubs)}: no kernel in npuport, raises MissingOpError when called)" if stubs else ""
        self.fix(original, f"{code(original)} -> from {TARGET} import {', '.join(names)}{note}")
        return updated.with_changes(relative=[], module=cst.parse_expression(TARGET))

    def leave_If(self, original: cst.If, updated: cst.If) -> cst.BaseStatement | cst.FlattenSentinel:
        if not self.redirected or not self._cuda_test(original.test) or not isinstance(original.orelse, cst.Else):
            return updated
        orelse = original.orelse.body
        if not isinstance(orelse, cst.IndentedBlock) or len(orelse.body) != 1 or \
                code(orelse.body[0]) not in ("raise NotImplementedError", "raise NotImplementedError()"):
            return updated
        if not self._calls_compiled(original.body):
            return updated
        self.fix(original, f"drop the CUDA-only guard `if {code(original.test)}` around a portable op")
        body = list(updated.body.body)
        body[0] = body[0].with_changes(leading_lines=updated.leading_lines)
        return cst.FlattenSentinel(body)

    def leave_Assert(self, original: cst.Assert, updated: cst.Assert) -> cst.Assert:
        test = original.test
        if not self.redirected or not isinstance(test, cst.BooleanOperation) or \
                not isinstance(test.operator, cst.And) or not self._cuda_test(test.right):
            return updated
        self.fix(original, f"assert: drop `{code(test.right)}` (the op is portable)")
        return updated.with_changes(test=updated.test.left)

    @staticmethod
    def _cuda_test(node: cst.BaseExpression) -> bool:
        return isinstance(node, cst.Attribute) and node.attr.value == "is_cuda"

    def _calls_compiled(self, block: cst.BaseSuite) -> bool:
        text = code(block)
        return any(f"{name}." in text for name in self.redirected)


class MmdetCompiledOpsRule(Rule):
    ID = "NPU607"
    DESCRIPTION = ("import mmdet 0.x/1.x's compiled op modules (nms_cuda, roi_align_cuda, ...) from "
                   "npuport.runtime.mmdet_ops and drop their is_cuda guards; report those it lacks")
    FIXABLE = True
    TRIGGERS = ("_cuda", "_cpu", "compiling_info")
    Transformer = _CompiledOps

    def wants(self, source: str) -> bool:
        """The name of a compiled module npuport.runtime.mmdet_ops knows (a relative import names it), or that
        module itself (an import ported already, whose is_cuda guards may still be there)."""
        return super().wants(source) and (TARGET in source or any(name in source for name in provided()[0]))
