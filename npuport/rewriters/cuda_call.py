"""NPU101: `.cuda()` -> `.to(npuport.runtime.device())`.

Before::

    model = model.cuda()
    img = img.cuda(non_blocking=True)
    model.cuda(cfg.gpu_ids[0])

After::

    model = model.to(npuport.runtime.device())
    img = img.to(npuport.runtime.device(), non_blocking=True)
    model.to(npuport.runtime.device(cfg.gpu_ids[0]))

Why: `.cuda()` fails on an Ascend server (no CUDA build of torch there). Asking npuport's runtime for
the device keeps one patched tree runnable on npu, cuda and cpu. `.to()` exists on tensors and on
nn.Module; other objects with their own `.cuda()` method (rare) must be checked by hand.
"""

from __future__ import annotations

from npuport.rewriters._device import CudaCall
from npuport.rewriters.base import Rule


class CudaCallRule(Rule):
    ID = "NPU101"
    DESCRIPTION = "rewrite .cuda()/.cuda(i) to .to(npuport.runtime.device(i)), keeping non_blocking"
    FIXABLE = True
    TRIGGERS = (".cuda(",)
    Transformer = CudaCall
