"""NPU114: backend='nccl' -> 'hccl' (direct NPU port).

Before::

    dist.init_process_group(backend='nccl')

After::

    dist.init_process_group(backend='hccl')

Why: Ascend's collective library is HCCL; same positions as NPU104, and is_nccl_available() ->
is_hccl_available().
"""

from __future__ import annotations

from npuport.rewriters._util import npu_flavour
from npuport.rewriters.nccl_backend import NcclBackend
from npuport.rewriters.base import Rule


class HcclBackendRule(Rule):
    ID = "NPU114"
    DESCRIPTION = "direct NPU port: rewrite 'nccl' backends (as NPU104 finds them) to 'hccl', is_nccl_available()"
    FIXABLE = True
    TRIGGERS = ("nccl",)
    Transformer = npu_flavour(NcclBackend)
