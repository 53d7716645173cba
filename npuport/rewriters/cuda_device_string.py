"""NPU103: 'cuda' device strings -> npuport.runtime.device_type(); `.is_cuda` reported.

Before::

    device = torch.device('cuda')
    x = torch.zeros(3, device='cuda')
    y = y.to('cuda:0')
    def grid_anchors(self, featmap_sizes, device='cuda'): ...
    parser.add_argument('--device', default='cuda')
    local = f"cuda:{rank}"; other = 'cuda:{}'.format(gpu)
    with torch.autocast('cuda'): ...

After::

    device = torch.device(npuport.runtime.device_type())
    x = torch.zeros(3, device=npuport.runtime.device_type())
    y = y.to(f"{npuport.runtime.device_type()}:0")
    def grid_anchors(self, featmap_sizes, device=npuport.runtime.device_type()): ...
    parser.add_argument('--device', default=npuport.runtime.device_type())
    local = f"{npuport.runtime.device_type()}:{rank}"; other = f"{npuport.runtime.device_type()}:{{}}".format(gpu)
    with torch.autocast(npuport.runtime.device_type()): ...

Why: a hard-coded 'cuda' fails on an NPU. A plain 'cuda' is changed only in a device position: the first
argument of torch.device, .to, torch.autocast, torch.amp.GradScaler, torch.Generator and
torch.set_default_device; the keywords (and parameter defaults) device, device_type, map_location, device_id
and pin_memory_device (torch_npu's transfer_to_npu list, plus DataLoader's); an argparse `default=`; a value
assigned to a name containing "device"; a {'device': ...} entry; either branch of a conditional expression
there. 'cuda:' followed by an index, a format field ('cuda:{}', 'cuda:%d') or nothing, and f"cuda:{i}", are
device strings anywhere. 'cuda' elsewhere (other dict keys, `mode = 'cuda'`, docstrings, messages,
comparisons) is left alone. A default is evaluated at import time, after torch is imported.
`x.is_cuda` is False on an NPU tensor, but it often guards a CUDA-only kernel (mmcv.ops, a .cu extension),
where "any accelerator" would call that kernel on the NPU: it is reported; `npuport.runtime.on_accelerator(x)`
is the device-neutral form where it means "on the accelerator".
"""

from __future__ import annotations

from npuport.rewriters._device import DeviceString
from npuport.rewriters.base import Rule


class CudaDeviceStringRule(Rule):
    ID = "NPU103"
    DESCRIPTION = ("rewrite 'cuda' in device positions, 'cuda:N'/f'cuda:{i}'/'cuda:{}' anywhere, to "
                   "npuport.runtime.device_type(); report x.is_cuda")
    FIXABLE = True
    TRIGGERS = ("cuda",)
    PATTERN = r"""['"]cuda(?::|['"])|\.is_cuda\b"""
    Transformer = DeviceString
