"""NPU104: backend='nccl' -> npuport.runtime.dist_backend().

Before::

    dist.init_process_group('nccl', init_method=url)
    dist_params = dict(backend='nccl')
    def init_dist(launcher, backend='nccl', **kwargs): ...

After::

    dist.init_process_group(npuport.runtime.dist_backend(), init_method=url)
    dist_params = dict(backend=npuport.runtime.dist_backend())
    def init_dist(launcher, backend=npuport.runtime.dist_backend(), **kwargs): ...

Why: NCCL does not exist on Ascend; the collective backend there is HCCL (and gloo on cpu).
"""

from __future__ import annotations

from npuport.rewriters._device import NcclBackend
from npuport.rewriters.base import Rule


class NcclBackendRule(Rule):
    ID = "NPU104"
    DESCRIPTION = "rewrite backend='nccl' and init_process_group('nccl') to npuport.runtime.dist_backend()"
    FIXABLE = True
    TRIGGERS = ("nccl",)
    Transformer = NcclBackend
