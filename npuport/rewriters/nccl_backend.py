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

from npuport.rewriters._device import NcclBackend
from npuport.rewriters.base import Rule


class NcclBackendRule(Rule):
    ID = "NPU104"
    DESCRIPTION = ("rewrite 'nccl' backends (backend=, init_process_group, argparse defaults, *backend = 'nccl') "
                   "to npuport.runtime.dist_backend(), and dist.is_nccl_available()")
    FIXABLE = True
    TRIGGERS = ("nccl",)
    Transformer = NcclBackend
