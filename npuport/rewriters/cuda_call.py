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

from typing import Optional

import libcst as cst

from npuport.rewriters._util import RUNTIME, dotted, expr, strip_comma
from npuport.rewriters.base import Rule, RuleTransformer


class CudaCall(RuleTransformer):
    """`.cuda(...)` method calls."""

    flavour = "runtime"

    def __init__(self, rule) -> None:
        super().__init__(rule)
        #: the storage parameter of each enclosing `map_location=lambda storage, loc: ...`
        self._storages: list[str] = []

    def visit_Arg(self, node: cst.Arg) -> None:
        storage = ""
        if node.keyword is not None and node.keyword.value == "map_location" and isinstance(node.value, cst.Lambda):
            params = node.value.params.params
            storage = params[0].name.value if params else ""
        self._storages.append(storage)

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        self._storages.pop()
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "cuda" or dotted(func.value) == "torch":
            return updated
        if self.flavour == "npu":
            self.fix(original, ".cuda() -> .npu()")
            self.need_import("torch_npu")
            return updated.with_changes(func=func.with_changes(attr=cst.Name("npu")))
        index: Optional[cst.Arg] = None
        rest: list[cst.Arg] = []
        for arg in updated.args:
            if arg.star:
                self.report(original, ".cuda(*args) left as is: rewrite by hand to .to(npuport.runtime.device(i))")
                return updated
            if arg.keyword is None or arg.keyword.value == "device":
                index = arg
            else:
                rest.append(arg)
        # a bare .cuda() means the current device (set_device), not LOCAL_RANK's
        index_code = "" if index is None else cst.Module(body=[]).code_for_node(index.value)
        device = f"{RUNTIME}.current()" if index is None else f"{RUNTIME}.device({index_code})"
        # Storage.to takes the device as a keyword only: `lambda storage, loc: storage.cuda()` in map_location
        receiver = original.func.value  # type: ignore[attr-defined]
        storage = isinstance(receiver, cst.Name) and receiver.value in self._storages
        keyword = dict(keyword=cst.Name("device"), equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))) if storage else {}
        space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        args = [cst.Arg(expr(device), comma=space if rest else cst.MaybeSentinel.DEFAULT, **keyword)] + rest
        self.fix(original, f".cuda(...) -> .to({'device=' if storage else ''}{device})")
        self.need_import(RUNTIME)
        return updated.with_changes(func=func.with_changes(attr=cst.Name("to")), args=strip_comma(args))


class CudaCallRule(Rule):
    ID = "NPU101"
    DESCRIPTION = ("rewrite .cuda() to .to(npuport.runtime.current()) and .cuda(i) to .to(npuport.runtime.device(i)), "
                   "keeping non_blocking")
    FIXABLE = True
    TRIGGERS = (".cuda(",)
    Transformer = CudaCall
