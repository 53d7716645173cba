"""NPU406: report mmcv's fp16 decorators (auto_fp16 / force_fp32), which switch CUDA autocast only.

Upstream idiom::

    @auto_fp16(apply_to=('img', ))
    def forward(self, img, img_metas): ...

    @force_fp32(apply_to=('cls_scores', 'bbox_preds'))
    def loss(self, cls_scores, bbox_preds, ...): ...

Reported, not changed. Once a model is fp16 (`fp16 = dict(...)` in the config, wrap_fp16_model), mmcv >= 1.3
on torch >= 1.6 runs an auto_fp16 function under `torch.cuda.amp.autocast(enabled=True)` and a force_fp32 one
under `autocast(enabled=False)` (mmcv/runner/fp16_utils.py). Those are CUDA autocast contexts: on an NPU they
do nothing. Under NPU AMP (torch_npu's autocast, npuport.runtime.autocast) a force_fp32 loss or bbox decoding
then runs in float16 instead of float32, and an auto_fp16 region gets no per-op float32 fallback. Port
mmcv's fp16_utils itself (NPU405 rewrites its `from torch.cuda.amp import autocast`), or cast the inputs with
`.float()` inside the function.

Why: the decorators look device-neutral, but their precision guarantee holds on CUDA only.
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters._util import dotted
from npuport.rewriters.base import Rule, RuleTransformer

_WHAT = {
    "auto_fp16": "enters torch.cuda.amp.autocast, which does nothing on an NPU: no per-op float32 fallback there",
    "force_fp32": "turns off torch.cuda.amp.autocast only: under NPU autocast the function runs in float16",
}


class _Fp16Decorators(RuleTransformer):
    def visit_Decorator(self, node: cst.Decorator) -> None:
        target = node.decorator.func if isinstance(node.decorator, cst.Call) else node.decorator
        name = (dotted(target) or "").rsplit(".", 1)[-1]
        if name in _WHAT:
            self.report(node, f"@{name} {_WHAT[name]}; port mmcv's fp16_utils autocast (NPU405) or cast with "
                              ".float() inside")


class MmcvFp16DecoratorsRule(Rule):
    ID = "NPU406"
    DESCRIPTION = "report mmcv's @auto_fp16 / @force_fp32: they switch CUDA autocast only, not the NPU's"
    FIXABLE = False
    TRIGGERS = ("auto_fp16", "force_fp32")
    PATTERN = r"@[\w.]*(auto_fp16|force_fp32)"
    Transformer = _Fp16Decorators
