"""NPU111: `.cuda()` -> `.npu()` (direct NPU port, adds `import torch_npu`).

Before::

    img = img.cuda(non_blocking=True)

After::

    import torch_npu
    img = img.npu(non_blocking=True)

Why: the plain Ascend port, for users who only target NPUs. torch_npu adds `.npu()` with the same
arguments as `.cuda()`. Prefer NPU101 for a tree that must also run on cuda and cpu.
"""

from __future__ import annotations

from npuport.rewriters._util import npu_flavour
from npuport.rewriters.cuda_call import CudaCall
from npuport.rewriters.base import Rule


class NpuCudaCallRule(Rule):
    ID = "NPU111"
    DESCRIPTION = "direct NPU port: rewrite .cuda(...) to .npu(...) and import torch_npu"
    FIXABLE = True
    TRIGGERS = (".cuda(",)
    Transformer = npu_flavour(CudaCall)
