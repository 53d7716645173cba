"""NPU103: 'cuda' device strings -> npuport.runtime.device_type(); `.is_cuda`, `device.type == 'cuda'` reported.

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
comparisons other than a device type's) is left alone. A default is evaluated at import time, after torch
is imported. `x.is_cuda` and `device.type == 'cuda'` are False on an NPU, but they often guard a CUDA-only
kernel (mmcv.ops, a .cu extension), where "any accelerator" would call that kernel on the NPU (and
`device_type()` would make the test True on cpu): both are reported; `npuport.runtime.on_accelerator(x)` and
`device.type != 'cpu'` are the device-neutral forms where they mean "on the accelerator".
"""

from __future__ import annotations

import re
from typing import Optional

import libcst as cst

from npuport.rewriters._util import RUNTIME, dotted, expr, keyword, swap_cuda_string
from npuport.rewriters._value_swap import NamedValueSwap
from npuport.rewriters.base import Rule, RuleTransformer

#: keywords that take a device: torch_npu's transfer_to_npu list, plus DataLoader's pin_memory_device
DEVICE_KEYWORDS = frozenset({"device", "device_type", "map_location", "device_id", "pin_memory_device"})
#: calls whose first positional argument is a device (names or dotted-name endings)
POSITIONAL_DEVICE = frozenset({"torch.device", "device", "torch.autocast", "torch.amp.autocast",
                               "torch.amp.GradScaler", "torch.Generator", "torch.set_default_device"})
#: 'cuda:' followed by an index, a format field or nothing: a device string wherever it stands
_CUDA_PREFIX = re.compile(r"""^(?P<p>[rRuU]?)(?P<q>['"])cuda:(?P<rest>\d+|\{[^{}'"]*\}|%[ds]|)(?P=q)$""")


class DeviceString(NamedValueSwap, RuleTransformer):
    """'cuda' device strings in device positions, and 'cuda:N' / f"cuda:{i}" / 'cuda:{}' anywhere."""

    flavour = "runtime"
    PARAM_NAMES = DEVICE_KEYWORDS
    TARGET_WORD = "device"

    def _swap_one(self, node: cst.BaseExpression, original: cst.CSTNode) -> Optional[cst.BaseExpression]:
        if isinstance(node, cst.SimpleString) and _CUDA_PREFIX.match(node.value):
            return None  # 'cuda:N' anywhere: leave_SimpleString's
        swapped = swap_cuda_string(node, self.flavour)
        if swapped is None:
            return None
        if self.flavour == "runtime":
            self.need_import(RUNTIME)
        self.fix(original, swapped[1])
        return swapped[0]

    def leave_SimpleString(self, original: cst.SimpleString, updated: cst.SimpleString) -> cst.BaseExpression:
        match = _CUDA_PREFIX.match(original.value)
        if match is None:
            return updated
        if self.flavour == "npu":
            new = original.value.replace("cuda", "npu", 1)
            self.fix(original, f"{original.value} -> {new}")
            return updated.with_changes(value=new)
        rest = match.group("rest").replace("{", "{{").replace("}", "}}")
        self.need_import(RUNTIME)
        self.fix(original, f"{original.value} -> f'{{{RUNTIME}.device_type()}}:{rest}'")
        return expr(f'f"{{{RUNTIME}.device_type()}}:{rest}"')

    def leave_FormattedString(self, original: cst.FormattedString,
                              updated: cst.FormattedString) -> cst.BaseExpression:
        parts = list(updated.parts)
        if len(parts) < 2 or not isinstance(parts[0], cst.FormattedStringText) or \
                not parts[0].value.startswith("cuda:") or "b" in updated.prefix.lower():
            return updated
        text = parts[0].value
        if self.flavour == "npu":
            parts[0] = parts[0].with_changes(value="npu" + text[len("cuda"):])
            self.fix(original, "f'cuda:...' -> f'npu:...'")
            return updated.with_changes(parts=parts)
        self.need_import(RUNTIME)
        self.fix(original, f"f'cuda:...' -> f'{{{RUNTIME}.device_type()}}:...'")
        device = cst.FormattedStringExpression(expression=expr(f"{RUNTIME}.device_type()"))
        return updated.with_changes(parts=[device, parts[0].with_changes(value=text[len("cuda"):]), *parts[1:]])

    def visit_Attribute(self, node: cst.Attribute) -> None:
        # `x.is_cuda` is False on an NPU tensor. It often guards a CUDA-only kernel (mmcv.ops, a .cu extension),
        # where "any accelerator" would call that kernel on the NPU: reported, for a hand to decide.
        if node.attr.value == "is_cuda":
            better = ".is_npu" if self.flavour == "npu" else f"{RUNTIME}.on_accelerator(x)"
            self.report(node, f".is_cuda is False on an NPU: where it means 'on the accelerator' use {better}; "
                              "where it selects a CUDA kernel keep it")

    def visit_Comparison(self, node: cst.Comparison) -> None:
        # `device.type == 'cuda'` is False on an NPU (and on cpu): the same choice as `.is_cuda`, reported
        left = node.left
        for target in node.comparisons:
            if isinstance(target.operator, (cst.Equal, cst.NotEqual)) and (
                    _device_type(left) and _is_cuda(target.comparator)
                    or _is_cuda(left) and _device_type(target.comparator)):
                self.report(node, "device.type == 'cuda' is False on an NPU: where it means 'on the accelerator' "
                                  "use device.type != 'cpu'; where it selects CUDA-only code keep it")
                return
            left = target.comparator

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        name = dotted(original.func) or ""
        # `.to` on any receiver, a call too: `torch.ByteTensor(storage).to("cuda")`
        to = isinstance(original.func, cst.Attribute) and original.func.attr.value == "to"
        positional_device = name in POSITIONAL_DEVICE or to
        argparse = name.endswith("add_argument")
        args = list(updated.args)
        changed = False
        for i, (old, arg) in enumerate(zip(original.args, args)):
            word = keyword(arg)
            is_device = word in DEVICE_KEYWORDS or (argparse and word == "default") or (
                positional_device and i == 0 and arg.keyword is None and not arg.star)
            if not is_device:
                continue
            new = self._swap(arg.value, old)
            if new is None and i == 0 and to and isinstance(arg.value, cst.Integer):
                new = self._index(arg.value, old)
            if new is not None:
                args[i] = arg.with_changes(value=new)
                changed = True
        return updated.with_changes(args=args) if changed else updated

    def _index(self, node: cst.Integer, original: cst.CSTNode) -> cst.BaseExpression:
        """`x.to(0)`: an int given to Tensor.to / Module.to is a CUDA device index."""
        if self.flavour == "npu":
            self.fix(original, f".to({node.value}) -> .to('npu:{node.value}')")
            return cst.SimpleString(f"'npu:{node.value}'")
        self.need_import(RUNTIME)
        self.fix(original, f".to({node.value}) -> .to({RUNTIME}.device({node.value}))")
        return expr(f"{RUNTIME}.device({node.value})")

    def leave_DictElement(self, original: cst.DictElement, updated: cst.DictElement) -> cst.DictElement:
        key = original.key
        if not isinstance(key, cst.SimpleString) or key.evaluated_value not in DEVICE_KEYWORDS:
            return updated
        new = self._swap(updated.value, original)  # {'device': 'cuda'}
        return updated if new is None else updated.with_changes(value=new)


def _is_cuda(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.SimpleString) and node.evaluated_value == "cuda"


def _device_type(node: cst.BaseExpression) -> bool:
    """`x.type`, `x.device.type`, `device_type`, `self.device_type`: a device's type."""
    name = dotted(node) or ""
    return name.endswith(".type") or name.rsplit(".", 1)[-1] == "device_type"


class CudaDeviceStringRule(Rule):
    ID = "NPU103"
    DESCRIPTION = ("rewrite 'cuda' in device positions, 'cuda:N'/f'cuda:{i}'/'cuda:{}' anywhere, to "
                   "npuport.runtime.device_type(); report x.is_cuda and device.type == 'cuda'")
    FIXABLE = True
    TRIGGERS = ("cuda", ".to(")
    PATTERN = r"""['"]cuda(?::|['"])|\.is_cuda\b|\.to\(\s*\d"""
    Transformer = DeviceString
