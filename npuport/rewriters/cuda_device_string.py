"""NPU103: 'cuda' device strings -> npuport.runtime.device_type().

Before::

    device = torch.device('cuda')
    x = torch.zeros(3, device='cuda')
    y = y.to('cuda:0')
    def grid_anchors(self, featmap_sizes, device='cuda'): ...

After::

    device = torch.device(npuport.runtime.device_type())
    x = torch.zeros(3, device=npuport.runtime.device_type())
    y = y.to(f"{npuport.runtime.device_type()}:0")
    def grid_anchors(self, featmap_sizes, device=npuport.runtime.device_type()): ...

Why: a hard-coded 'cuda' fails on an NPU. Only strings in a device position are changed: the first
argument of torch.device(...) and .to(...), any `device=` keyword, a `device` parameter's default,
and either branch of a conditional expression there. 'cuda' elsewhere (dict keys, docstrings,
messages) is left alone. A default is evaluated at import time, after torch is imported.
"""

from __future__ import annotations

from npuport.rewriters._device import DeviceString
from npuport.rewriters.base import Rule


class CudaDeviceStringRule(Rule):
    ID = "NPU103"
    DESCRIPTION = "rewrite 'cuda'/'cuda:N' in device positions to npuport.runtime.device_type()"
    FIXABLE = True
    TRIGGERS = ("cuda",)
    PATTERN = r"""['"]cuda(:\d+)?['"]"""
    Transformer = DeviceString
