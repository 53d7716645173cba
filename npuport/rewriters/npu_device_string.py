"""NPU113: 'cuda' device strings -> 'npu' (direct NPU port); `.is_cuda` reported.

Before::

    x = torch.zeros(3, device='cuda')
    y = y.to('cuda:1')
    local = f"cuda:{rank}"

After::

    x = torch.zeros(3, device='npu')
    y = y.to('npu:1')
    local = f"npu:{rank}"

Why: same positions as NPU103 (torch.device, .to, torch.autocast, device/device_type/map_location/
pin_memory_device keywords and defaults, argparse defaults, device assignments, f"cuda:{i}" and 'cuda:{}'
anywhere), for a tree that only targets NPUs. `x.is_cuda` is reported as in NPU103 (torch_npu adds
Tensor.is_npu, but an is_cuda test often selects a CUDA-only kernel).
"""

from __future__ import annotations

from npuport.rewriters._util import npu_flavour
from npuport.rewriters.cuda_device_string import DeviceString
from npuport.rewriters.base import Rule


class NpuDeviceStringRule(Rule):
    ID = "NPU113"
    DESCRIPTION = "direct NPU port: rewrite 'cuda' device strings (as NPU103 finds them) to 'npu'; report x.is_cuda"
    FIXABLE = True
    TRIGGERS = ("cuda", ".to(")
    PATTERN = r"""['"]cuda(?::|['"])|\.is_cuda\b|\.to\(\s*\d"""
    Transformer = npu_flavour(DeviceString)
