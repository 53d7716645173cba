"""Shared machinery of the device rules, in two flavours.

`runtime`: patched code asks npuport.runtime for its device, so one tree runs on npu, cuda and cpu.
`npu`: a plain NPU port (torch_npu), what the hand-made Ascend ports do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import libcst as cst

from npuport.rewriters._util import code, dotted, expr, strip_comma
from npuport.rewriters.base import RuleTransformer

RUNTIME = "npuport.runtime"

#: torch.cuda.X -> npuport.runtime.Y
RUNTIME_API = {
    "synchronize": "synchronize",
    "device_count": "device_count",
    "current_device": "current_device",
    "set_device": "set_device",
    "manual_seed_all": "manual_seed_all",
    "manual_seed": "manual_seed_all",
    "is_available": "is_available",
    "max_memory_allocated": "max_memory_allocated",
    "memory_allocated": "memory_allocated",
    "reset_peak_memory_stats": "reset_peak_memory_stats",
    "empty_cache": "empty_cache",
    "memory_reserved": "memory_reserved",
    "max_memory_reserved": "max_memory_reserved",
    "reset_max_memory_allocated": "reset_max_memory_allocated",
    "memory_stats": "memory_stats",
    "get_device_name": "get_device_name",
    "device": "device_guard",
}

#: torch.cuda.FloatTensor(...) and friends: legacy constructors, the CPU type moved to the current device
LEGACY_TENSORS = frozenset(f"{kind}Tensor" for kind in ("Float", "Double", "Half", "BFloat16", "Long", "Int",
                                                         "Short", "Char", "Byte", "Bool"))

_CUDA_STRING = re.compile(r"""^(?P<q>[rRuU]?['"])cuda(?::(?P<index>\d+))?['"]$""")


class _SkipImports(RuleTransformer):
    """Never rewrite inside import statements."""

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False


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
        device = f"{RUNTIME}.current()" if index is None else f"{RUNTIME}.device({_code(index.value)})"
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


class TorchCudaApi(_SkipImports):
    """`torch.cuda.X(...)` calls and `torch.cuda` attribute use."""

    flavour = "runtime"

    def __init__(self, rule) -> None:
        super().__init__(rule)
        self._cuda_build = False

    def visit_Module(self, node: cst.Module) -> None:
        # a setup.py that builds a CUDA extension: its torch.cuda.is_available() guard must stay CUDA-only
        self._cuda_build = any(_imports_cpp_extension(small) for st in node.body
                               if isinstance(st, cst.SimpleStatementLine) for small in st.body)

    def _build_guard(self, original: cst.CSTNode, name: Optional[str]) -> bool:
        if not self._cuda_build or name != "torch.cuda.is_available":
            return False
        self.report(original, "torch.cuda.is_available() guards a CUDA extension build (torch.utils.cpp_extension): "
                              "left CUDA-only; build NPU ops another way")
        return True

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if self.flavour == "npu" and self._build_guard(node, dotted(node)):
            return False
        return True

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom) -> cst.ImportFrom:
        """Direct flavour: `from torch.cuda.amp import X` -> `from torch_npu.npu.amp import X` (torch.npu is an
        attribute that torch_npu sets, not an importable module; torch_npu.npu is)."""
        module = None if original.module is None or original.relative else dotted(original.module)
        if self.flavour != "npu" or module is None or not (module + ".").startswith("torch.cuda."):
            return updated
        new = "torch_npu.npu" + module[len("torch.cuda"):]
        self.fix(original, f"from {module} import ... -> from {new} import ...")
        return updated.with_changes(module=expr(new))

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if self.flavour == "npu":
            return updated
        name = dotted(original.func)
        if name is None or not name.startswith("torch.cuda.") or name.count(".") != 2:
            return updated
        api = name.rsplit(".", 1)[1]
        if api in LEGACY_TENSORS:  # a call: fixed here, not reported as a use of torch.cuda
            self.sites = [site for site in self.sites if site[0] is not original.func]
            self.fix(original, f"{name}(...) -> {RUNTIME}.legacy_tensor('{api}', ...)")
            self.need_import(RUNTIME)
            return updated.with_changes(func=expr(f"{RUNTIME}.legacy_tensor"),
                                        args=[cst.Arg(cst.SimpleString(f'"{api}"'), comma=cst.Comma(
                                            whitespace_after=cst.SimpleWhitespace(" "))) if updated.args else
                                              cst.Arg(cst.SimpleString(f'"{api}"')), *updated.args])
        if api not in RUNTIME_API or self._build_guard(original, name):
            return updated
        self.fix(original, f"{name}() -> {RUNTIME}.{RUNTIME_API[api]}()")
        self.need_import(RUNTIME)
        return updated.with_changes(func=expr(f"{RUNTIME}.{RUNTIME_API[api]}"))

    def leave_IfExp(self, original: cst.IfExp, updated: cst.IfExp) -> cst.BaseExpression:
        """`'cuda' if torch.cuda.is_available() else 'cpu'` (or `'cpu' if not ... else 'cuda'`): the guard now
        means "any accelerator", so the branch it selects must name that accelerator, not cuda."""
        test, negated = original.test, False
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            test, negated = test.expression, True
        if not (isinstance(test, cst.Call) and not test.args and dotted(test.func) == "torch.cuda.is_available"):
            return updated
        if self._cuda_build:
            return updated
        branch = updated.orelse if negated else updated.body
        if isinstance(branch, cst.SimpleString):
            swapped = swap_cuda_string(branch, self.flavour)
            new_branch = None if swapped is None else swapped[0]
        elif isinstance(branch, cst.Call) and dotted(branch.func) in ("torch.device", "device") and branch.args \
                and branch.args[0].keyword is None:
            swapped = swap_cuda_string(branch.args[0].value, self.flavour)
            new_branch = None if swapped is None else branch.with_changes(
                args=[branch.args[0].with_changes(value=swapped[0]), *branch.args[1:]])
        else:
            return updated
        if new_branch is None:
            return updated
        # one site for the guard and its branch
        guard = (test, test.func, test.func.value)  # type: ignore[attr-defined]
        self.sites = [site for site in self.sites if not any(site[0] is node for node in guard)]
        if self.flavour == "runtime":
            self.need_import(RUNTIME)
            other = original.body if negated else original.orelse
            if isinstance(branch, cst.SimpleString) and branch.value[1:-1] == "cuda" and \
                    isinstance(other, cst.SimpleString) and other.evaluated_value == "cpu":
                # device_type() is already 'cpu' where no accelerator is
                self.fix(original, f"{code(original)} -> {RUNTIME}.device_type()")
                return expr(f"{RUNTIME}.device_type()")
        self.fix(original, f"{swapped[1]} in the branch that the guard torch.cuda.is_available() selects")
        return updated.with_changes(orelse=new_branch) if negated else updated.with_changes(body=new_branch)

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        if self.flavour == "npu":
            if original.attr.value == "cuda" and dotted(original.value) == "torch":
                self.fix(original, "torch.cuda -> torch.npu")
                self.need_import("torch_npu")
                return updated.with_changes(attr=cst.Name("npu"))
            name = dotted(original)
            if name is not None and name.startswith("torch.cuda.") and name.count(".") == 2:
                return self._npu_name(original, updated, name.rsplit(".", 1)[1])
            return updated
        name = dotted(original)
        if name is None or not name.startswith("torch.cuda.") or name.count(".") != 2:
            return updated
        api = name.rsplit(".", 1)[1]
        if api not in RUNTIME_API and api != "amp":  # torch.cuda.amp: NPU405
            self.report(original, f"{name} has no npuport.runtime equivalent: make it device-agnostic by hand "
                                  "or guard it with npuport.runtime.device_type() == 'cuda'")
        return updated

    def _npu_name(self, original: cst.Attribute, updated: cst.Attribute, api: str) -> cst.BaseExpression:
        """torch.npu.X where torch_npu names it differently (CUDAGraph -> NPUGraph), or a report where it has
        no twin: then the whole name stays torch.cuda.X."""
        names = torch_npu_names()
        if api in names["renamed"] or api in names["no_twin"]:
            self.sites = [site for site in self.sites if site[0] is not original.value]
        if api in names["renamed"]:
            self.fix(original, f"torch.cuda.{api} -> torch.npu.{names['renamed'][api]}")
            return updated.with_changes(attr=cst.Name(names["renamed"][api]))
        if api in names["no_twin"]:
            self.report(original, f"torch.cuda.{api} has no torch.npu twin ({names['no_twin'][api]}): port it by hand")
            return original
        return updated


def _imports_cpp_extension(node: cst.BaseSmallStatement) -> bool:
    if isinstance(node, cst.ImportFrom) and node.module is not None:
        return dotted(node.module) == "torch.utils.cpp_extension"
    if isinstance(node, cst.Import):
        return any(dotted(a.name) == "torch.utils.cpp_extension" for a in node.names)
    return False


_NAMES: dict = {}


def torch_npu_names() -> dict:
    """The table of torch.cuda names that torch.npu spells differently or lacks (data/torch_npu_names.json)."""
    if not _NAMES:
        path = Path(__file__).parent / "data" / "torch_npu_names.json"
        _NAMES.update(json.loads(path.read_text(encoding="utf-8")))
    return _NAMES


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def swap_cuda_string(node: cst.BaseExpression, flavour: str) -> Optional[tuple[cst.BaseExpression, str]]:
    """'cuda' / 'cuda:N' -> the flavour's device expression and a message; None for anything else."""
    if not isinstance(node, cst.SimpleString):
        return None
    match = _CUDA_STRING.match(node.value)
    if match is None:
        return None
    index = match.group("index")
    if flavour == "npu":
        new = node.value.replace("cuda", "npu", 1)
        return node.with_changes(value=new), f"{node.value} -> {new}"
    if index is None:
        return expr(f"{RUNTIME}.device_type()"), f"{node.value} -> {RUNTIME}.device_type()"
    return (expr(f'f"{{{RUNTIME}.device_type()}}:{index}"'),
            f"{node.value} -> f'{{{RUNTIME}.device_type()}}:{index}'")


#: keywords that take a device: torch_npu's transfer_to_npu list, plus DataLoader's pin_memory_device
DEVICE_KEYWORDS = frozenset({"device", "device_type", "map_location", "device_id", "pin_memory_device"})
#: calls whose first positional argument is a device (names or dotted-name endings)
POSITIONAL_DEVICE = frozenset({"torch.device", "device", "torch.autocast", "torch.amp.autocast",
                               "torch.amp.GradScaler", "torch.Generator", "torch.set_default_device"})
#: 'cuda:' followed by an index, a format field or nothing: a device string wherever it stands
_CUDA_PREFIX = re.compile(r"""^(?P<p>[rRuU]?)(?P<q>['"])cuda:(?P<rest>\d+|\{[^{}'"]*\}|%[ds]|)(?P=q)$""")


def _keyword(arg: cst.Arg) -> str:
    return "" if arg.keyword is None else arg.keyword.value


def _named(targets: list, word: str) -> bool:
    """Some assignment target's last name contains `word`: `device = ...`, `self.dist_backend = ...`.
    Other names (`mode = 'cuda'`) are not evidently a device or a backend."""
    for target in targets:
        name = dotted(target) or ""
        if word in name.rsplit(".", 1)[-1].lower():
            return True
    return False


class DeviceString(RuleTransformer):
    """'cuda' device strings in device positions, and 'cuda:N' / f"cuda:{i}" / 'cuda:{}' anywhere."""

    flavour = "runtime"

    def _swap(self, node: cst.BaseExpression, original: cst.CSTNode) -> Optional[cst.BaseExpression]:
        if isinstance(node, cst.IfExp):
            body = self._swap(node.body, original)
            orelse = self._swap(node.orelse, original)
            if body is None and orelse is None:
                return None
            return node.with_changes(body=body or node.body, orelse=orelse or node.orelse)
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

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        name = dotted(original.func) or ""
        positional_device = name in POSITIONAL_DEVICE or name.endswith(".to")
        argparse = name.endswith("add_argument")
        args = list(updated.args)
        changed = False
        for i, (old, arg) in enumerate(zip(original.args, args)):
            keyword = _keyword(arg)
            is_device = keyword in DEVICE_KEYWORDS or (argparse and keyword == "default") or (
                positional_device and i == 0 and arg.keyword is None and not arg.star)
            if not is_device:
                continue
            new = self._swap(arg.value, old)
            if new is not None:
                args[i] = arg.with_changes(value=new)
                changed = True
        return updated.with_changes(args=args) if changed else updated

    def leave_Param(self, original: cst.Param, updated: cst.Param) -> cst.Param:
        if original.name.value not in DEVICE_KEYWORDS or updated.default is None:
            return updated
        new = self._swap(updated.default, original)
        return updated if new is None else updated.with_changes(default=new)

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        if not _named([t.target for t in original.targets], "device"):
            return updated
        new = self._swap(updated.value, original)  # device = 'cuda'
        return updated if new is None else updated.with_changes(value=new)

    def leave_AnnAssign(self, original: cst.AnnAssign, updated: cst.AnnAssign) -> cst.AnnAssign:
        if updated.value is None or not _named([original.target], "device"):
            return updated
        new = self._swap(updated.value, original)
        return updated if new is None else updated.with_changes(value=new)

    def leave_DictElement(self, original: cst.DictElement, updated: cst.DictElement) -> cst.DictElement:
        key = original.key
        if not isinstance(key, cst.SimpleString) or key.evaluated_value not in DEVICE_KEYWORDS:
            return updated
        new = self._swap(updated.value, original)  # {'device': 'cuda'}
        return updated if new is None else updated.with_changes(value=new)


class NcclBackend(RuleTransformer):
    """'nccl' as a backend: keywords and parameter defaults, init_process_group('nccl'), argparse defaults,
    assignments and {'backend': 'nccl'}; and dist.is_nccl_available()."""

    flavour = "runtime"

    def _swap(self, node: cst.BaseExpression, original: cst.CSTNode) -> Optional[cst.BaseExpression]:
        if isinstance(node, cst.IfExp):
            body = self._swap(node.body, original)
            orelse = self._swap(node.orelse, original)
            if body is None and orelse is None:
                return None
            return node.with_changes(body=body or node.body, orelse=orelse or node.orelse)
        if not isinstance(node, cst.SimpleString) or node.evaluated_value != "nccl":
            return None
        if self.flavour == "npu":
            self.fix(original, "'nccl' -> 'hccl'")
            return node.with_changes(value=node.value.replace("nccl", "hccl"))
        self.fix(original, f"'nccl' -> {RUNTIME}.dist_backend()")
        self.need_import(RUNTIME)
        return expr(f"{RUNTIME}.dist_backend()")

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        name = dotted(original.func) or ""
        if name.split(".")[-1] == "is_nccl_available" and not original.args:
            if self.flavour == "npu":
                if "." not in name:  # imported by name: is_hccl_available would need its own import
                    self.report(original, "is_nccl_available(): use torch.distributed.is_hccl_available()")
                    return updated
                self.fix(original, "is_nccl_available() -> is_hccl_available()")
                return updated.with_changes(func=expr(name.rsplit(".", 1)[0] + ".is_hccl_available"))
            self.fix(original, f"is_nccl_available() -> {RUNTIME}.dist_backend() != 'gloo'")
            self.need_import(RUNTIME)
            return expr(f'({RUNTIME}.dist_backend() != "gloo")')
        argparse = name.endswith("add_argument")
        args = list(updated.args)
        changed = False
        for i, (old, arg) in enumerate(zip(original.args, args)):
            wanted = _keyword(arg) == "backend" or (argparse and _keyword(arg) == "default") or (
                i == 0 and arg.keyword is None and not arg.star and name.split(".")[-1] == "init_process_group")
            new = self._swap(arg.value, old) if wanted else None
            if new is not None:
                args[i] = arg.with_changes(value=new)
                changed = True
        return updated.with_changes(args=args) if changed else updated

    def leave_Param(self, original: cst.Param, updated: cst.Param) -> cst.Param:
        if original.name.value != "backend" or updated.default is None:
            return updated
        new = self._swap(updated.default, original)
        return updated if new is None else updated.with_changes(default=new)

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        if not _named([t.target for t in original.targets], "backend"):
            return updated
        new = self._swap(updated.value, original)  # dist_backend = 'nccl'
        return updated if new is None else updated.with_changes(value=new)

    def leave_DictElement(self, original: cst.DictElement, updated: cst.DictElement) -> cst.DictElement:
        key = original.key
        if not isinstance(key, cst.SimpleString) or key.evaluated_value not in ("backend", "dist_backend"):
            return updated
        new = self._swap(updated.value, original)
        return updated if new is None else updated.with_changes(value=new)


def npu_flavour(cls: type) -> type:
    """The same transformer, in the direct NPU flavour."""
    return type(f"Npu{cls.__name__}", (cls,), {"flavour": "npu"})
