"""NPU104: backend='nccl' -> npuport.runtime.dist_backend().

Before::

    dist.init_process_group('nccl', init_method=url)
    dist_params = dict(backend='nccl')
    def init_dist(launcher, backend='nccl', **kwargs): ...
    parser.add_argument('--dist-backend', default='nccl')
    dist_backend = 'nccl'
    if dist.is_nccl_available(): ...

After::

    dist.init_process_group(npuport.runtime.dist_backend(), init_method=url)
    dist_params = dict(backend=npuport.runtime.dist_backend())
    def init_dist(launcher, backend=npuport.runtime.dist_backend(), **kwargs): ...
    parser.add_argument('--dist-backend', default=npuport.runtime.dist_backend())
    dist_backend = npuport.runtime.dist_backend()
    if (npuport.runtime.dist_backend() != "gloo"): ...

Why: NCCL does not exist on Ascend; the collective backend there is HCCL (and gloo on cpu). 'nccl' is changed
where it is evidently a backend: backend= keywords and defaults, init_process_group's first argument, argparse
defaults, values assigned to a name containing "backend", {'backend': ...} entries. is_nccl_available() asks
whether the accelerator's collective library is there: hccl on npu, nccl on cuda, none on cpu.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from npuport.rewriters._util import RUNTIME, dotted, expr, keyword
from npuport.rewriters._value_swap import NamedValueSwap
from npuport.rewriters.base import Rule, RuleTransformer


class NcclBackend(NamedValueSwap, RuleTransformer):
    """'nccl' as a backend: keywords and parameter defaults, init_process_group('nccl'), argparse defaults,
    assignments and {'backend': 'nccl'}; and dist.is_nccl_available()."""

    flavour = "runtime"
    PARAM_NAMES = frozenset({"backend"})
    TARGET_WORD = "backend"

    def _swap_one(self, node: cst.BaseExpression, original: cst.CSTNode) -> Optional[cst.BaseExpression]:
        if not isinstance(node, cst.SimpleString) or node.evaluated_value != "nccl":
            return None
        if self.flavour == "npu":
            self.fix(original, "'nccl' -> 'hccl'")
            return node.with_changes(value=node.value.replace("nccl", "hccl"))
        self.fix(original, f"'nccl' -> {RUNTIME}.dist_backend()")
        self.need_import(RUNTIME)
        return expr(f"{RUNTIME}.dist_backend()")

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        name = dotted(original.func) or ""
        if name.split(".")[-1] == "is_nccl_available" and not original.args:
            if self.flavour == "npu":
                if "." not in name:  # imported by name: is_hccl_available would need its own import
                    self.report(original, "is_nccl_available(): use torch.distributed.is_hccl_available()")
                    return updated
                self.fix(original, "is_nccl_available() -> is_hccl_available()")
                return updated.with_changes(func=expr(name.rsplit(".", 1)[0] + ".is_hccl_available"))
            self.fix(original, f"is_nccl_available() -> {RUNTIME}.dist_backend() != 'gloo'")
            self.need_import(RUNTIME)
            return expr(f'({RUNTIME}.dist_backend() != "gloo")')
        argparse = name.endswith("add_argument")
        args = list(updated.args)
        changed = False
        for i, (old, arg) in enumerate(zip(original.args, args)):
            wanted = keyword(arg) == "backend" or (argparse and keyword(arg) == "default") or (
                i == 0 and arg.keyword is None and not arg.star and name.split(".")[-1] == "init_process_group")
            new = self._swap(arg.value, old) if wanted else None
            if new is not None:
                args[i] = arg.with_changes(value=new)
                changed = True
        return updated.with_changes(args=args) if changed else updated

    def leave_DictElement(self, original: cst.DictElement, updated: cst.DictElement) -> cst.DictElement:
        key = original.key
        if not isinstance(key, cst.SimpleString) or key.evaluated_value not in ("backend", "dist_backend"):
            return updated
        new = self._swap(updated.value, original)
        return updated if new is None else updated.with_changes(value=new)


class NcclBackendRule(Rule):
    ID = "NPU104"
    DESCRIPTION = ("rewrite 'nccl' backends (backend=, init_process_group, argparse defaults, *backend = 'nccl') "
                   "to npuport.runtime.dist_backend(), and dist.is_nccl_available()")
    FIXABLE = True
    TRIGGERS = ("nccl",)
    Transformer = NcclBackend
