"""NPU403: AMP in mmcv's OptimizerHook.after_train_iter (mmcv 0.2 to 1.7).

Before (mmcv 0.2.16; 1.x adds grad-norm logging inside the clip branch)::

    def after_train_iter(self, runner):
        runner.optimizer.zero_grad()
        runner.outputs['loss'].backward()
        if self.grad_clip is not None:
            self.clip_grads(runner.model.parameters())
        runner.optimizer.step()

After::

    def after_train_iter(self, runner):
        scaler = getattr(self, 'npuport_scaler', None) or getattr(runner, 'npuport_scaler', None)
        runner.optimizer.zero_grad()
        if scaler is None:
            runner.outputs['loss'].backward()
        else:
            scaler.scale(runner.outputs['loss']).backward()
            scaler.unscale_(runner.optimizer)
        if self.grad_clip is not None:
            self.clip_grads(runner.model.parameters())
        if scaler is None:
            runner.optimizer.step()
        else:
            scaler.step(runner.optimizer)
            scaler.update()

Why: the NPU ports train in mixed precision with a loss scaler (the hand-made ports patched this hook to
call apex). The hook now uses a GradScaler when one is attached, to the runner (`runner.npuport_scaler`)
or to the hook (configured for AMP), and unscales before gradient clipping so the clip threshold
applies to true gradients. Without a scaler the behaviour is exactly the old one.

Matched by shape, not by class name: a method `after_train_iter(self, runner)` whose body starts with
`<opt>.zero_grad()` then `<loss>.backward()` and ends with `<opt>.step()` (a docstring first is allowed);
mmcv's Fp16OptimizerHook and GradientCumulativeOptimizerHook do not match and are left alone.
A body that already mentions npuport_scaler is left alone (idempotent).
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from npuport.rewriters._util import code
from npuport.rewriters.base import Rule, RuleTransformer

_SCALER = "getattr(self, 'npuport_scaler', None) or getattr(runner, 'npuport_scaler', None)"


def _call_stmt(statement: cst.BaseStatement, method_name: str) -> Optional[cst.BaseExpression]:
    """The receiver of `receiver.method()` when the statement is exactly that call."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if not isinstance(small, cst.Expr) or not isinstance(small.value, cst.Call) or small.value.args:
        return None
    func = small.value.func
    if isinstance(func, cst.Attribute) and func.attr.value == method_name:
        return func.value
    return None


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _branch(scaler_none: list[str], scaler_set: list[str], indent: str = "    ") -> cst.If:
    source = "if scaler is None:\n" + "".join(f"{indent}{s}\n" for s in scaler_none)
    source += "else:\n" + "".join(f"{indent}{s}\n" for s in scaler_set)
    return cst.parse_statement(source)  # type: ignore[return-value]


def _keep_original(branch: cst.If, statement: cst.BaseStatement) -> cst.If:
    """Put the original statement (with its comments) in the no-scaler branch."""
    inner = statement.with_changes(leading_lines=[])
    block = branch.body.with_changes(body=[inner])  # type: ignore[attr-defined]
    return branch.with_changes(body=block, leading_lines=statement.leading_lines)


class _OptimizerHookAmp(RuleTransformer):
    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        params = [p.name.value for p in original.params.params]
        if original.name.value != "after_train_iter" or params != ["self", "runner"]:
            return updated
        if not isinstance(updated.body, cst.IndentedBlock):
            return updated
        body = list(updated.body.body)
        start = 1 if body and _is_docstring(body[0]) else 0
        if "npuport_scaler" in code(updated.body):
            return updated
        if len(body) < start + 3:
            return updated
        optimizer = _call_stmt(body[start], "zero_grad")
        loss = _call_stmt(body[start + 1], "backward")
        step = _call_stmt(body[-1], "step")
        if optimizer is None or loss is None or step is None or not step.deep_equals(optimizer):
            return updated
        opt, loss_code = code(optimizer), code(loss)
        scaler = cst.parse_statement(f"scaler = {_SCALER}\n")
        backward = _branch([f"{loss_code}.backward()"],
                           [f"scaler.scale({loss_code}).backward()", f"scaler.unscale_({opt})"])
        stepping = _branch([f"{opt}.step()"], [f"scaler.step({opt})", "scaler.update()"])
        backward = _keep_original(backward, body[start + 1])
        stepping = _keep_original(stepping, body[-1])
        new_body = body[:start] + [scaler, body[start]] + [backward] + body[start + 2:-1] + [stepping]
        self.fix(original, "OptimizerHook.after_train_iter: GradScaler path when npuport_scaler is set "
                           "(scale, unscale_ before clip, step, update)")
        return updated.with_changes(body=updated.body.with_changes(body=new_body))


class MmcvOptimizerHookRule(Rule):
    ID = "NPU403"
    DESCRIPTION = ("inject AMP into mmcv OptimizerHook.after_train_iter: use a GradScaler when "
                   "npuport_scaler is set on the hook or runner, unchanged otherwise")
    FIXABLE = True
    TRIGGERS = ("after_train_iter",)
    Transformer = _OptimizerHookAmp

    def wants(self, source: str) -> bool:
        """The hook's method, and the three calls the rewrite rearranges (a hook that only logs has none)."""
        return all(word in source for word in ("after_train_iter", "zero_grad", "backward", "step"))
