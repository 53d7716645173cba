"""NPU105: report CUDA-only tools that torch_npu replaces or turns off: TorchScript, the CUDA profiler, Triton.

Upstream idiom::

    @torch.jit.script
    def fused_gelu(x): ...
    with torch.profiler.profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof: ...
    import triton

Reported, not changed: torch_npu's own `transfer_to_npu` turns torch.jit.script/script_method into no-ops
(TorchScript graphs do not run on the NPU), swaps torch.profiler for torch_npu.profiler (whose activity is
ProfilerActivity.NPU; a CUDA activity records nothing there) and makes has_triton() False (Triton kernels are
CUDA/ROCm code). Each needs a decision: run the function eagerly, profile with torch_npu.profiler, keep the
PyTorch fallback of a Triton kernel.

Why: these sites fail on an NPU or, worse, run and measure nothing; a port should know where they are.
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters._util import dotted
from npuport.rewriters.base import Rule, RuleTransformer

_SCRIPT = ("torch.jit.script", "torch.jit.script_method", "jit.script", "jit.script_method")
_PROFILE = ("torch.profiler.profile", "profiler.profile")


class _CudaOnly(RuleTransformer):
    def visit_Attribute(self, node: cst.Attribute) -> bool:
        name = dotted(node) or ""
        if name in _SCRIPT:
            self.report(node, f"{name}: torch_npu does not run TorchScript (transfer_to_npu makes it a no-op); "
                              "run it eagerly on the NPU")
            return False
        if name.endswith("ProfilerActivity.CUDA"):
            self.report(node, "ProfilerActivity.CUDA records nothing on an NPU: use "
                              "torch_npu.profiler.ProfilerActivity.NPU with torch_npu.profiler.profile")
            return False
        if name.endswith("has_triton"):
            self.report(node, "has_triton(): Triton kernels do not run on an NPU; keep the PyTorch fallback")
            return False
        return True

    def visit_Call(self, node: cst.Call) -> None:
        name = dotted(node.func) or ""
        if name in _PROFILE:
            self.report(node, f"{name}(...) does not trace NPU kernels: torch_npu.profiler.profile has the same API")

    def visit_Import(self, node: cst.Import) -> bool:
        if any((dotted(a.name) or "").split(".")[0] == "triton" for a in node.names):
            self.report(node, "import triton: Triton kernels do not run on an NPU; keep or write a PyTorch fallback")
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        module = "" if node.module is None or node.relative else dotted(node.module) or ""
        names = [] if isinstance(node.names, cst.ImportStar) else [a.name.value for a in node.names]  # type: ignore
        if module.split(".")[0] == "triton":
            self.report(node, f"from {module} import ...: Triton kernels do not run on an NPU; keep or write a "
                              "PyTorch fallback")
        elif "has_triton" in names:
            self.report(node, "has_triton: Triton kernels do not run on an NPU; keep the PyTorch fallback")
        return False


class CudaOnlyApisRule(Rule):
    ID = "NPU105"
    DESCRIPTION = ("report TorchScript (torch.jit.script), the CUDA profiler and Triton: torch_npu replaces or "
                   "disables them")
    FIXABLE = False
    TRIGGERS = ("jit.script", "ProfilerActivity", "profiler.profile", "triton")  # has_triton too
    Transformer = _CudaOnly
