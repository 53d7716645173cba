"""NPU101: `.cuda()` -> `.to(npuport.runtime.current())`.

Before::

    model = model.cuda()
    img = img.cuda(non_blocking=True)
    model.cuda(cfg.gpu_ids[0])
    torch.load(f, map_location=lambda storage, loc: storage.cuda())

After::

    model = model.to(npuport.runtime.current())
    img = img.to(npuport.runtime.current(), non_blocking=True)
    model.to(npuport.runtime.device(cfg.gpu_ids[0]))
    torch.load(f, map_location=lambda storage, loc: storage.to(device=npuport.runtime.current()))

Why: `.cuda()` fails on an Ascend server (no CUDA build of torch there). Asking npuport's runtime for
the device keeps one patched tree runnable on npu, cuda and cpu. `.to()` exists on tensors and on
nn.Module; other objects with their own `.cuda()` method (rare) must be checked by hand.
A bare `.cuda()` means the *current* device (what torch.cuda.set_device chose, also under mp.spawn, where
LOCAL_RANK is unset), hence `current()` rather than `device()` (LOCAL_RANK's). `.cuda(x)` takes an index, a
torch.device or a string: `device(x)` accepts all three. A storage in a `map_location` lambda has a
keyword-only `Storage.to(device=...)`.
"""

from __future__ import annotations

from npuport.rewriters._device import CudaCall
from npuport.rewriters.base import Rule


class CudaCallRule(Rule):
    ID = "NPU101"
    DESCRIPTION = ("rewrite .cuda() to .to(npuport.runtime.current()) and .cuda(i) to .to(npuport.runtime.device(i)), "
                   "keeping non_blocking")
    FIXABLE = True
    TRIGGERS = (".cuda(",)
    Transformer = CudaCall
