"""NPU501: warm-up-aware FPS from mmcv's IterTimerHook (mmcv 0.2 to 1.7).

Before::

    def after_iter(self, runner):
        runner.log_buffer.update({'time': time.time() - self.t})
        self.t = time.time()

After::

    def after_iter(self, runner):
        runner.log_buffer.update({'time': time.time() - self.t})
        self.t = time.time()
        npuport.runtime.timing.record(runner)

Why: the ports report FPS, and the hand-made ones computed it in this hook from the first iterations,
which include graph compilation on the NPU (minutes). npuport.runtime.timing.record logs one fixed,
parseable line per iteration; npuport's results stage drops the warm-up and computes
samples x world size / time. The hook's own timing is unchanged.

Matched by shape: a method `after_iter(self, runner)` that updates runner.log_buffer with a 'time' key.
A body that already calls timing.record is left alone (idempotent).
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters._util import code
from npuport.rewriters.base import Rule, RuleTransformer

RECORD = "npuport.runtime.timing.record(runner)"


class _IterTimer(RuleTransformer):
    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        params = [p.name.value for p in original.params.params]
        if original.name.value != "after_iter" or params != ["self", "runner"]:
            return updated
        if not isinstance(updated.body, cst.IndentedBlock):
            return updated
        text = code(updated.body)
        if "timing.record(" in text or "log_buffer.update(" not in text or "'time'" not in text \
                and '"time"' not in text:
            return updated
        body = list(updated.body.body) + [cst.parse_statement(f"{RECORD}\n")]
        self.fix(original, f"IterTimerHook.after_iter: call {RECORD}")
        self.need_import("npuport.runtime.timing")
        return updated.with_changes(body=updated.body.with_changes(body=body))


class MmcvIterTimerRule(Rule):
    ID = "NPU501"
    DESCRIPTION = "make mmcv IterTimerHook.after_iter call npuport.runtime.timing.record(runner) (warm-up-aware FPS)"
    FIXABLE = True
    TRIGGERS = ("after_iter",)
    Transformer = _IterTimer
