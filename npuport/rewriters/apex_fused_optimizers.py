"""NPU402: apex fused optimizers -> torch.optim.

Before::

    from apex.optimizers import FusedSGD, FusedAdam
    opt = FusedSGD(params, lr=0.1, momentum=0.9, wd_after_momentum=False)
    opt2 = apex.optimizers.FusedAdam(params, lr=1e-3)
    opt3 = apex.optimizers.NpuFusedSGD(params, lr=0.1)

After::

    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    opt2 = torch.optim.AdamW(params, lr=1e-3)
    opt3 = torch.optim.SGD(params, lr=0.1)

Why: apex does not build for cpu or a stock torch; torch.optim runs everywhere (and on Ascend torch_npu
fuses the foreach implementations). FusedAdam defaults to adam_w_mode=True, i.e. decoupled weight decay,
which is torch.optim.AdamW; adam_w_mode=False gives Adam. apex-only keyword arguments are dropped.
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters._util import dotted, expr, strip_comma
from npuport.rewriters.base import Rule, RuleTransformer

#: apex name -> (torch.optim class, apex-only keyword arguments to drop)
OPTIMIZERS = {
    "FusedSGD": ("SGD", {"wd_after_momentum", "materialize_master_grads", "set_grad_none"}),
    "FusedAdam": ("AdamW", {"adam_w_mode", "set_grad_none", "bias_correction"}),
    "FusedLAMB": (None, set()),
    "NpuFusedSGD": ("SGD", {"wd_after_momentum", "set_grad_none"}),
    "NpuFusedAdam": ("Adam", {"set_grad_none"}),
    "NpuFusedAdamW": ("AdamW", {"set_grad_none"}),
}


class _FusedOptimizers(RuleTransformer):
    def visit_Module(self, node: cst.Module) -> None:
        self.local: dict[str, str] = {}

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom):
        if original.module is None or dotted(original.module) != "apex.optimizers" or \
                isinstance(updated.names, cst.ImportStar):
            return updated
        keep = []
        for alias in updated.names:
            name = alias.name.value
            if OPTIMIZERS.get(name, (None,))[0] is None:
                keep.append(alias)
                continue
            self.local[alias.asname.name.value if alias.asname else name] = name  # type: ignore[union-attr]
        if len(keep) == len(updated.names):
            return updated
        self.fix(original, "apex.optimizers import removed (torch.optim instead)")
        self.need_import("torch")
        if not keep:
            return cst.RemoveFromParent()
        keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated.with_changes(names=keep)

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        name = dotted(original.func) or ""
        if name in self.local:
            apex_name = self.local[name]
        elif name.startswith(("apex.optimizers.", "optimizers.")) and name.rsplit(".", 1)[1] in OPTIMIZERS:
            apex_name = name.rsplit(".", 1)[1]
        else:
            return updated
        target, drop = OPTIMIZERS[apex_name]
        if target is None:
            self.report(original, f"{apex_name} has no torch.optim equivalent: choose an optimizer by hand")
            return updated
        args = []
        for arg in updated.args:
            key = arg.keyword.value if arg.keyword is not None else None
            if key == "adam_w_mode" and isinstance(arg.value, cst.Name) and arg.value.value == "False":
                target = "Adam"
            if key not in drop:
                args.append(arg)
        self.fix(original, f"{name}(...) -> torch.optim.{target}(...)")
        self.need_import("torch")
        return updated.with_changes(func=expr(f"torch.optim.{target}"), args=strip_comma(args))


class ApexFusedOptimizersRule(Rule):
    ID = "NPU402"
    DESCRIPTION = "rewrite apex FusedSGD/FusedAdam/NpuFusedSGD/NpuFusedAdam[W] to torch.optim SGD/AdamW/Adam"
    FIXABLE = True
    TRIGGERS = ("Fused",)
    PATTERN = r"apex|Fused(?:SGD|Adam|LAMB)"
    Transformer = _FusedOptimizers
