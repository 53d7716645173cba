"""NPU405: native CUDA AMP (torch.cuda.amp) -> npuport.runtime.amp, same signatures, on the runtime's device.

Before::

    from torch.cuda.amp import autocast, GradScaler
    scaler = torch.cuda.amp.GradScaler()
    with torch.cuda.amp.autocast(enabled=args.amp):
        loss = model(images)

After::

    from npuport.runtime.amp import autocast, GradScaler
    scaler = npuport.runtime.amp.GradScaler()
    with npuport.runtime.amp.autocast(enabled=args.amp):
        loss = model(images)

Why: torch.cuda.amp runs only on CUDA (on a machine without it, it warns and turns itself off). torch_npu's
twin is torch.npu.amp, and it is not importable as `torch.npu.amp` from a `from ... import`. npuport.runtime.amp
has torch.cuda.amp's signatures and defaults (float16, init scale 2**16), so arguments keep their meaning:
torch.npu.amp on npu, torch.autocast / torch.amp.GradScaler on cuda, disabled on cpu as before. Names the
runtime does not provide are reported. The device-generic forms (`torch.autocast('cuda')`,
`device_type='cuda'`, `torch.amp.GradScaler('cuda')`) are device strings: NPU103.
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters._util import dotted, expr
from npuport.rewriters.base import Rule, RuleTransformer

PROVIDED = ("autocast", "GradScaler", "custom_fwd", "custom_bwd")
MODULE = "npuport.runtime.amp"


class _CudaAmp(RuleTransformer):
    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom) -> cst.ImportFrom:
        if original.relative or original.module is None or dotted(original.module) != "torch.cuda.amp":
            return updated
        if isinstance(original.names, cst.ImportStar):
            self.report(original, "from torch.cuda.amp import * left as is: import the names from "
                                  f"{MODULE} ({', '.join(PROVIDED)})")
            return updated
        missing = [a.name.value for a in original.names if a.name.value not in PROVIDED]  # type: ignore
        if missing:
            self.report(original, f"from torch.cuda.amp import {', '.join(missing)}: not in {MODULE}; port by hand")
            return updated
        self.fix(original, f"from torch.cuda.amp import ... -> from {MODULE} import ...")
        return updated.with_changes(module=expr(MODULE))

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        name = dotted(original)
        if name is None or not name.startswith("torch.cuda.amp.") or name.count(".") != 3:
            return updated
        api = original.attr.value
        if api not in PROVIDED:
            self.report(original, f"{name} has no {MODULE} equivalent; port by hand")
            return updated
        self.fix(original, f"{name} -> {MODULE}.{api}")
        self.need_import(MODULE)
        return expr(f"{MODULE}.{api}")


class CudaAmpRule(Rule):
    ID = "NPU405"
    DESCRIPTION = ("rewrite torch.cuda.amp autocast/GradScaler/custom_fwd/custom_bwd (uses and imports) to "
                   "npuport.runtime.amp")
    FIXABLE = True
    TRIGGERS = ("torch.cuda.amp",)
    Transformer = _CudaAmp
