"""libcst codemods that port CUDA-era PyTorch code to Ascend NPUs, one rule per module.

Importing this package imports libcst (not torch); `npuport --help` must not import it.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst
from libcst import CSTNode

from npuport.errors import NpuportError, UsageError
from npuport.rewriters._shared_pass import shared_sites
from npuport.rewriters.apex_amp import ApexAmpRule
from npuport.rewriters.apex_cached_cast import ApexCachedCastRule
from npuport.rewriters.apex_fused_optimizers import ApexFusedOptimizersRule
from npuport.rewriters.base import Change, Lines, Rule, add_imports
from npuport.rewriters.collections_abc import CollectionsAbcRule
from npuport.rewriters.compiled_ops import CompiledOpsRule
from npuport.rewriters.cuda_amp import CudaAmpRule
from npuport.rewriters.cuda_call import CudaCallRule
from npuport.rewriters.cuda_device_string import CudaDeviceStringRule
from npuport.rewriters.cuda_only_apis import CudaOnlyApisRule
from npuport.rewriters.dp_scatter import DpScatterRule
from npuport.rewriters.dynamic_shape_sites import DynamicShapeSitesRule
from npuport.rewriters.hand_rolled_fps import HandRolledFpsRule
from npuport.rewriters.hccl_backend import HcclBackendRule
from npuport.rewriters.int64_creation import Int64CreationRule
from npuport.rewriters.local_rank_arg import LocalRankArgRule
from npuport.rewriters.masked_assign import MaskedAssignRule
from npuport.rewriters.mmcv_ext_loader import MmcvExtLoaderRule
from npuport.rewriters.mmcv_fp16_decorators import MmcvFp16DecoratorsRule
from npuport.rewriters.mmdet_compiled_ops import MmdetCompiledOpsRule
from npuport.rewriters.mmcv_iter_timer import MmcvIterTimerRule
from npuport.rewriters.mmcv_optimizer_hook import MmcvOptimizerHookRule
from npuport.rewriters.nccl_backend import NcclBackendRule
from npuport.rewriters.nonzero_count import NonzeroCountRule
from npuport.rewriters.npu_cuda_call import NpuCudaCallRule
from npuport.rewriters.npu_device_string import NpuDeviceStringRule
from npuport.rewriters.npu_fused_ops import NpuFusedOpsRule
from npuport.rewriters.npu_torch_cuda import NpuTorchCudaRule
from npuport.rewriters.numpy_aliases import NumpyAliasesRule
from npuport.rewriters.optional_torchvision import OptionalTorchvisionRule
from npuport.rewriters.roi_float_cast import RoiFloatCastRule
from npuport.rewriters.torch_cuda_api import TorchCudaApiRule
from npuport.rewriters.torch_six import TorchSixRule

__all__ = ["RULES", "DEFAULT_RULES", "Change", "Rule", "get", "resolve", "wanted", "apply", "check"]

#: Every rule, by ID, in the order `apply` runs them by default.
RULES: dict[str, type[Rule]] = {
    rule.ID: rule
    for rule in (
        CudaCallRule, TorchCudaApiRule, CudaDeviceStringRule, NcclBackendRule, CudaOnlyApisRule,
        CompiledOpsRule, NpuFusedOpsRule, DpScatterRule,
        NpuCudaCallRule, NpuTorchCudaRule, NpuDeviceStringRule, HcclBackendRule,
        Int64CreationRule, RoiFloatCastRule,
        DynamicShapeSitesRule, MaskedAssignRule, NonzeroCountRule,
        ApexAmpRule, ApexFusedOptimizersRule, MmcvOptimizerHookRule, ApexCachedCastRule, CudaAmpRule,
        MmcvFp16DecoratorsRule,
        MmcvIterTimerRule, HandRolledFpsRule,
        TorchSixRule, NumpyAliasesRule, CollectionsAbcRule, LocalRankArgRule, OptionalTorchvisionRule,
        MmcvExtLoaderRule, MmdetCompiledOpsRule,
    )
}

#: Direct-NPU flavour: an alternative to NPU101-NPU104, chosen explicitly with --select.
DIRECT_NPU = ("NPU111", "NPU112", "NPU113", "NPU114")

#: What scan/port run when nothing is selected: every rule except the direct-NPU flavour.
DEFAULT_RULES: tuple[str, ...] = tuple(rule_id for rule_id in RULES if rule_id not in DIRECT_NPU)


def get(rule_id: str) -> type[Rule]:
    """The rule class for an ID; UsageError naming the known IDs otherwise."""
    try:
        return RULES[rule_id.strip().upper()]
    except KeyError:
        raise UsageError(f"unknown rule {rule_id!r}: known rules are {', '.join(RULES)} "
                         "(see `npuport scan --help`)") from None


def resolve(select: Optional[list[str]] = None, fixable_only: bool = False) -> list[str]:
    """Rule IDs to run: `select` (IDs, comma lists, or family prefixes like 'NPU1') or the defaults."""
    if not select:
        ids = list(DEFAULT_RULES)
    else:
        ids = []
        for item in select:
            for part in (p.strip().upper() for p in item.split(",")):
                if not part:
                    continue
                if part in RULES:
                    matched = [part]
                else:
                    matched = [i for i in RULES if i.startswith(part) and len(part) >= 4]
                    if not matched:
                        get(part)
                ids.extend(i for i in matched if i not in ids)
    if fixable_only:
        ids = [i for i in ids if RULES[i].FIXABLE]
    return ids


def parse(source: str, path: str = "<string>", validate: bool = True) -> cst.Module:
    """Parse with libcst; NpuportError naming the file and line when it is not valid Python.

    validate=False skips the check libcst runs on every node as it is built (CSTNode.__post_init__ calls
    _validate), which the parser's own nodes pass by construction: ~13% of a parse (libcst notes the cost at
    that method). Only the parse skips it: nodes a rule builds later are checked as usual."""
    own = vars(CSTNode).get("__post_init__")
    if not validate and own is not None:
        CSTNode.__post_init__ = _no_check
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as error:
        raise NpuportError(f"{path}:{error.raw_line}: cannot parse ({error.message}); fix the syntax or "
                           "exclude the file") from None
    finally:
        if not validate and own is not None:
            CSTNode.__post_init__ = own


def _no_check(self: CSTNode) -> None:
    pass


_INSTANCES: dict[str, Rule] = {}


def wanted(source: str, rule_ids: list[str]) -> list[Rule]:
    """The rules whose text pre-filter says this source may have a site (rule objects hold no state)."""
    rules = []
    for rule_id in rule_ids:
        rule = _INSTANCES.get(rule_id)
        if rule is None:
            rule = _INSTANCES[rule_id] = get(rule_id)()
        if rule.wants(source):
            rules.append(rule)
    return rules


def check(source: str, rule_ids: list[str], path: str = "<string>", shared: bool = True) -> list[Change]:
    """Sites of every rule on the unmodified source (line numbers refer to `source`), rule by rule.

    shared=True: one walk for all rules (_shared_pass); False: each rule walks on its own (the reference)."""
    rules = wanted(source, rule_ids)
    if not rules:
        return []
    module = parse(source, path, validate=False)
    lines = Lines(module)
    changes: list[Change] = []
    together = [rule for rule in rules if shared and rule.SHARED]
    visitors = {id(rule): rule.Transformer(rule) for rule in together}
    if visitors:
        shared_sites(module, list(visitors.values()))
        lines.need([node for visitor in visitors.values() for node, _, _ in visitor.sites])
    for rule in rules:
        visitor = visitors.get(id(rule))
        changes.extend(rule.run(module, lines)[1] if visitor is None else rule.changes(visitor, lines))
    return changes


def apply(source: str, rule_ids: list[str], path: str = "<string>") -> tuple[str, list[Change]]:
    """Run the rules in order on one parse; return the new source and the changes.

    Each rule's line numbers refer to the source as that rule saw it (after the rules before it);
    imports the new code needs are added once, at the end.
    """
    rules = wanted(source, rule_ids)
    if not rules:
        return source, []
    module = parse(source, path)
    changes: list[Change] = []
    imports = []
    for rule in rules:
        module, found, needed = rule.run(module)
        changes.extend(found)
        imports.extend(i for i in needed if i not in imports)
    if not any(c.fixed for c in changes):
        return source, changes
    return add_imports(module, imports).code, changes
