"""NPU113: 'cuda' device strings -> 'npu' (direct NPU port).

Before::

    x = torch.zeros(3, device='cuda')
    y = y.to('cuda:1')

After::

    x = torch.zeros(3, device='npu')
    y = y.to('npu:1')

Why: same positions as NPU103 (torch.device(...), .to(...), `device=` keywords and defaults), for a
tree that only targets NPUs.
"""

from __future__ import annotations

from npuport.rewriters._device import DeviceString, npu_flavour
from npuport.rewriters.base import Rule


class NpuDeviceStringRule(Rule):
    ID = "NPU113"
    DESCRIPTION = "direct NPU port: rewrite 'cuda'/'cuda:N' in device positions to 'npu'/'npu:N'"
    FIXABLE = True
    TRIGGERS = ("cuda",)
    PATTERN = r"""['"]cuda(:\d+)?['"]"""
    Transformer = npu_flavour(DeviceString)
