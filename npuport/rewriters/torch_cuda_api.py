"""NPU102: `torch.cuda.synchronize()` and friends -> npuport.runtime.

Before::

    torch.cuda.manual_seed_all(seed)
    device_ids = [torch.cuda.current_device()]
    if torch.cuda.is_available(): ...

After::

    npuport.runtime.manual_seed_all(seed)
    device_ids = [npuport.runtime.current_device()]
    if npuport.runtime.is_available(): ...

Why: torch.cuda.* is a CUDA-only namespace; on an NPU the same calls live in torch.npu. The runtime
picks the right one. Mapped: synchronize, device_count, current_device, set_device, manual_seed_all,
manual_seed (-> manual_seed_all: each process drives one device), is_available, the memory statistics
that loggers print (max_memory_allocated, memory_allocated, reset_peak_memory_stats, reset_max_memory_allocated,
memory_reserved, max_memory_reserved, memory_stats, empty_cache: 0, {} or a no-op on the CPU), get_device_name,
the `with torch.cuda.device(i):` context (-> device_guard(i)), and the legacy constructors
torch.cuda.FloatTensor(...) and friends (-> legacy_tensor('FloatTensor', ...): the CPU type's constructor, moved
to the current device; a type check such as isinstance(x, torch.cuda.FloatTensor) is reported), and the stream
calls torch.cuda.current_stream() / stream(s) / Stream(...) (-> npuport.runtime.streams). Any other
torch.cuda.X (Event, nvtx, comm, ...) is reported, not changed; torch.cuda.amp is NPU405's. A module-level
alias is torch.cuda too: `import torch.cuda as cuda; cuda.device_count()` (or `from torch import cuda`).

Meaning: once rewritten, the guard `torch.cuda.is_available()` means "any accelerator", so the branch it selects
must not name cuda: `'cuda' if torch.cuda.is_available() else 'cpu'` becomes `npuport.runtime.device_type()`
(and 'cuda:N' / torch.device('cuda') there become the runtime's device type). In a file that builds a CUDA
extension (it imports torch.utils.cpp_extension: CUDAExtension, BuildExtension) the guard selects .cu sources
that only nvcc builds: it is reported and stays CUDA-only.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from npuport.rewriters._util import RUNTIME, code, data, dotted, expr, swap_cuda_string
from npuport.rewriters.base import Rule, SkipImportsTransformer

#: torch.cuda.X -> npuport.runtime.Y, and the legacy torch.cuda.<Kind>Tensor constructors (data/runtime_api.json)
API: dict[str, str] = data("runtime_api")["api"]
LEGACY = frozenset(data("runtime_api")["legacy_tensors"])
#: torch.cuda's stream API: rewritten where called; a Stream type check or reference is reported
_STREAMS = frozenset({"Stream", "stream", "current_stream"})


class TorchCudaApi(SkipImportsTransformer):
    """`torch.cuda.X(...)` calls and `torch.cuda` attribute use."""

    flavour = "runtime"

    def __init__(self, rule) -> None:
        super().__init__(rule)
        self._cuda_build = False

    def visit_Module(self, node: cst.Module) -> None:
        smalls = [small for st in node.body if isinstance(st, cst.SimpleStatementLine) for small in st.body]
        # a setup.py that builds a CUDA extension: its torch.cuda.is_available() guard must stay CUDA-only
        self._cuda_build = any(_imports_cpp_extension(small) for small in smalls)
        #: names bound to torch.cuda at module level (`import torch.cuda as cuda`, `from torch import cuda`):
        #: `cuda.X` is torch.cuda.X. The direct flavour leaves them: torch.npu cannot be imported by that name.
        self._aliases = frozenset() if self.flavour == "npu" else frozenset(
            alias for small in smalls for alias in _torch_cuda_aliases(small))
        #: the functions of calls: torch.cuda.X that is not called cannot be swapped for the runtime's X
        self._called: set[int] = set()

    def _name(self, node: cst.CSTNode) -> Optional[str]:
        """dotted(node), with a module-level alias of torch.cuda spelled out."""
        name = dotted(node)
        if name is not None and self._aliases:
            head, dot, rest = name.partition(".")
            if head in self._aliases:
                return "torch.cuda" + dot + rest
        return name

    def visit_Call(self, node: cst.Call) -> None:
        self._called.add(id(node.func))

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
        name = self._name(original.func)
        if name is None or not name.startswith("torch.cuda.") or name.count(".") != 2:
            return updated
        api = name.rsplit(".", 1)[1]
        if api in LEGACY:  # a call: fixed here, not reported as a use of torch.cuda
            self.sites = [site for site in self.sites if site[0] is not original.func]
            self.fix(original, f"{name}(...) -> {RUNTIME}.legacy_tensor('{api}', ...)")
            self.need_import(RUNTIME)
            return updated.with_changes(func=expr(f"{RUNTIME}.legacy_tensor"),
                                        args=[cst.Arg(cst.SimpleString(f'"{api}"'), comma=cst.Comma(
                                            whitespace_after=cst.SimpleWhitespace(" "))) if updated.args else
                                              cst.Arg(cst.SimpleString(f'"{api}"')), *updated.args])
        if api not in API or self._build_guard(original, name):
            return updated
        self.fix(original, f"{name}() -> {RUNTIME}.{API[api]}()")
        self.need_import(RUNTIME)
        return updated.with_changes(func=expr(f"{RUNTIME}.{API[api]}"))

    def leave_IfExp(self, original: cst.IfExp, updated: cst.IfExp) -> cst.BaseExpression:
        """`'cuda' if torch.cuda.is_available() else 'cpu'` (or `'cpu' if not ... else 'cuda'`): the guard now
        means "any accelerator", so the branch it selects must name that accelerator, not cuda."""
        test, negated = original.test, False
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            test, negated = test.expression, True
        if not (isinstance(test, cst.Call) and not test.args and self._name(test.func) == "torch.cuda.is_available"):
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
        name = self._name(original)
        if name is None or not name.startswith("torch.cuda.") or name.count(".") != 2:
            return updated
        api = name.rsplit(".", 1)[1]
        if api not in API and api != "amp":  # torch.cuda.amp: NPU405
            self.report(original, f"{name} has no npuport.runtime equivalent: make it device-agnostic by hand "
                                  "or guard it with npuport.runtime.device_type() == 'cuda'")
        elif api in _STREAMS and id(original) not in self._called:
            self.report(original, f"{name} used without a call (a type check, a reference): npuport.runtime's "
                                  f"{API[api]} is a function; port it by hand")
        return updated

    def _npu_name(self, original: cst.Attribute, updated: cst.Attribute, api: str) -> cst.BaseExpression:
        """torch.npu.X where torch_npu names it differently (CUDAGraph -> NPUGraph), or a report where it has
        no twin: then the whole name stays torch.cuda.X."""
        names = data("torch_npu_names")
        if api in names["renamed"] or api in names["no_twin"]:
            self.sites = [site for site in self.sites if site[0] is not original.value]
        if api in names["renamed"]:
            self.fix(original, f"torch.cuda.{api} -> torch.npu.{names['renamed'][api]}")
            return updated.with_changes(attr=cst.Name(names["renamed"][api]))
        if api in names["no_twin"]:
            self.report(original, f"torch.cuda.{api} has no torch.npu twin ({names['no_twin'][api]}): port it by hand")
            return original
        return updated


def _torch_cuda_aliases(node: cst.BaseSmallStatement) -> list[str]:
    """Names a module-level import binds to torch.cuda."""
    if isinstance(node, cst.Import):
        return [alias.asname.name.value for alias in node.names if dotted(alias.name) == "torch.cuda"
                and alias.asname is not None and isinstance(alias.asname.name, cst.Name)]
    if isinstance(node, cst.ImportFrom) and not node.relative and node.module is not None \
            and dotted(node.module) == "torch" and not isinstance(node.names, cst.ImportStar):
        return [alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else "cuda"
                for alias in node.names if dotted(alias.name) == "cuda"]
    return []


def _imports_cpp_extension(node: cst.BaseSmallStatement) -> bool:
    if isinstance(node, cst.ImportFrom) and node.module is not None:
        return dotted(node.module) == "torch.utils.cpp_extension"
    if isinstance(node, cst.Import):
        return any(dotted(a.name) == "torch.utils.cpp_extension" for a in node.names)
    return False


class TorchCudaApiRule(Rule):
    ID = "NPU102"
    DESCRIPTION = ("rewrite torch.cuda.synchronize/device_count/current_device/set_device/manual_seed[_all]/"
                   "is_available/device(i), memory statistics to npuport.runtime; report other torch.cuda.* uses")
    FIXABLE = True
    TRIGGERS = ("torch.cuda.", "torch.cuda as", "from torch import")
    PATTERN = r"torch\.cuda\.|torch\.cuda as|from torch import [^\n]*\bcuda\b"
    Transformer = TorchCudaApi
