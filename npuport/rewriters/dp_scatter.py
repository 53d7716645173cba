"""NPU108: report DataParallel and device_ids scatter that pin a model's inputs to CUDA devices.

Upstream idiom::

    model = nn.DataParallel(model, device_ids=[0, 1]).cuda()
    model = MMDataParallel(model.cuda(cfg.gpu_ids[0]), device_ids=cfg.gpu_ids)
    model = MMDistributedDataParallel(model.cuda(), device_ids=[torch.cuda.current_device()])
    inputs, kwargs = scatter_kwargs(inputs, kwargs, target_gpus)
    sum_, ssum = ReduceAddCoalesced.apply(target_gpus[0], 2, *to_reduce)   # a sync-BN master
    broadcasted = Broadcast.apply(target_gpus, mean, inv_std)           # (torch.nn.parallel._functions)

Reported, not changed. DataParallel (torch's and subclasses such as mmcv's MMDataParallel or
DataParallelWithCallback) splits each batch over device_ids with torch.cuda.comm and CUDA streams; Ascend
runs DistributedDataParallel, one process per NPU (or the model on one device). mmcv's
MMDistributedDataParallel(device_ids=...) and mmcv/torch `scatter` / `scatter_kwargs` / `Scatter.apply`
copy the inputs to CUDA device ids through CUDA streams (mmcv.parallel._functions), and torch's
`Broadcast` / `ReduceAddCoalesced` / `Gather.apply` (torch.nn.parallel._functions, what hand-made sync-BN
masters and gathers call) move tensors between GPUs with torch.cuda.comm; mmcv >= 1.7 has
NPUDataParallel / NPUDistributedDataParallel (mmcv.device.npu) for this. torch's own
DistributedDataParallel(device_ids=...) is not reported: its input copy follows the module's device type
(NPU101/NPU102 port its device_ids).

Why: these paths run the CUDA copy code whatever device the model is on: inputs end up on CUDA (or fail)
although every `.cuda()` of the model was ported.
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters._util import dotted, keyword
from npuport.rewriters.base import Rule, RuleTransformer

_SCATTER = ("scatter", "scatter_kwargs")
#: torch.nn.parallel._functions' autograd functions over torch.cuda.comm (a hand-made sync-BN master, DataParallel's
#: gather); mmcv.parallel._functions' Scatter
_FUNCTIONS = ("Scatter", "Gather", "Broadcast", "ReduceAddCoalesced")


class _DpScatter(RuleTransformer):
    def __init__(self, rule) -> None:
        super().__init__(rule)
        #: local names bound to torch/mmcv's parallel scatter functions: the name each was imported as
        self._scatters: dict[str, str] = {}

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = "" if node.module is None else dotted(node.module) or ""
        if "parallel" in module and not isinstance(node.names, cst.ImportStar):
            for alias in node.names:
                name = dotted(alias.name) or ""
                if name in _SCATTER or name in _FUNCTIONS:
                    self._scatters[dotted(alias.asname.name) if alias.asname else name] = name  # type: ignore

    def visit_Call(self, node: cst.Call) -> None:
        name = dotted(node.func) or ""
        last = name.rsplit(".", 1)[-1]
        if "DataParallel" in last and "Distributed" not in last and not last.startswith("NPU"):
            self.report(node, f"{last}(...) scatters each batch over CUDA devices (torch.cuda.comm): on Ascend use "
                              "DistributedDataParallel, one process per NPU (mmcv >= 1.7: NPUDataParallel)")
        elif last == "MMDistributedDataParallel" and any(keyword(a) == "device_ids" for a in node.args):
            self.report(node, "MMDistributedDataParallel(device_ids=...) copies inputs to those ids with CUDA "
                              "streams (mmcv.parallel.scatter): mmcv >= 1.7 has NPUDistributedDataParallel")
        elif name.endswith(".apply") and (self._scatters.get(name[:-len(".apply")]) in _FUNCTIONS[1:] or any(
                name.endswith(f"parallel._functions.{function}.apply") for function in _FUNCTIONS[1:])):
            self.report(node, f"{name}(...) reduces, broadcasts or gathers over CUDA device ids with torch.cuda.comm "
                              "(DataParallel-style sync): on Ascend use torch.distributed collectives (hccl), one "
                              "process per NPU (nn.SyncBatchNorm for a synchronized BatchNorm)")
        elif (name in self._scatters or name.endswith(("parallel.scatter", "parallel.scatter_kwargs"))
              or name in ("Scatter.apply", "comm.scatter")
              or (name.endswith(".apply") and name[:-len(".apply")] in self._scatters)):
            self.report(node, f"{name}(...) copies inputs to CUDA device ids through CUDA streams: on an NPU "
                              "move them with .to(npuport.runtime.device()) (or mmcv >= 1.7's NPU scatter)")


class DpScatterRule(Rule):
    ID = "NPU108"
    DESCRIPTION = ("report DataParallel, MMDistributedDataParallel(device_ids=...) and scatter calls that pin "
                   "inputs to CUDA devices")
    FIXABLE = False
    TRIGGERS = ("DataParallel", "scatter", "Scatter", "Gather", "Broadcast", "ReduceAddCoalesced")
    PATTERN = (r"DataParallel\w*\(|parallel[\w.]* import \(?[\w\s,]*\b(?:scatter|scatter_kwargs|Scatter|Gather"
               r"|Broadcast|ReduceAddCoalesced)\b"
               r"|parallel\.scatter|Scatter\.apply|comm\.scatter|_functions\.\w+\.apply")
    Transformer = _DpScatter
