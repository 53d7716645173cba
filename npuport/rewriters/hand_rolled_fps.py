"""NPU502: report hand-rolled FPS computations (report only).

Upstream idiom::

    fps = batch_size * world_size / (time.time() - start)
    print('FPS: %.2f' % (args.batch_size / batch_time.avg))

Why: throughput computed from the first iterations includes NPU graph compilation, and a per-device
batch size without the world size under-reports multi-device runs. Use the numbers npuport's results
stage computes (after warm-up, samples x world size / time) from npuport.runtime.timing.record.

Heuristic: a division whose left side mentions a batch/sample count (a name containing 'batch' or
'sample', or 'imgs_per_gpu'/'samples_per_gpu') and whose right side mentions time (a name containing
'time' or 'elapsed', or a time.time()/perf_counter() call).
"""

from __future__ import annotations

import re

import libcst as cst

from npuport.rewriters._util import code
from npuport.rewriters.base import Rule, RuleTransformer

_COUNT = re.compile(r"batch|sample|imgs_per_gpu", re.IGNORECASE)
_TIME = re.compile(r"time|elapsed|perf_counter|duration", re.IGNORECASE)


class _HandRolledFps(RuleTransformer):
    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if not isinstance(node.operator, cst.Divide):
            return
        if _COUNT.search(code(node.left)) and _TIME.search(code(node.right)):
            self.report(node, "hand-rolled throughput (batch / time): includes warm-up and may miss the "
                              "world size; use npuport's FPS (npuport.runtime.timing)")


class HandRolledFpsRule(Rule):
    ID = "NPU502"
    DESCRIPTION = "report hand-rolled FPS computations (batch size / time) that ignore warm-up (report only)"
    FIXABLE = False
    TRIGGERS = ("/",)
    Transformer = _HandRolledFps

    def wants(self, source: str) -> bool:
        """A line dividing a batch size by a time. Only lines with a `/` are searched: the case-insensitive
        pattern over the whole text cost more than the rest of the pre-filters together."""
        return "/" in source and any("/" in line and _FPS_LINE.search(line) for line in source.split("\n"))


_FPS_LINE = re.compile(r"(?i)(batch|sample|imgs_per_gpu).*/.*(time|elapsed|perf_counter|duration)")
