"""NPU401: apex.amp -> native AMP through npuport.runtime.GradScaler.

Before::

    from apex import amp
    model, optimizer = amp.initialize(model, optimizer, opt_level='O1', loss_scale=128.0)
    ...
    with amp.scale_loss(loss, optimizer) as scaled_loss:
        scaled_loss.backward()
    optimizer.step()

After::

    scaler = npuport.runtime.GradScaler(init_scale=128.0)
    ...
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()

Why: apex is a CUDA extension that does not build for Ascend or for cpu; torch's native AMP does, and
npuport.runtime.GradScaler picks the scaler of the current device. `loss_scale` becomes `init_scale`
(dynamic scaling, 128 when absent or 'dynamic'); opt_level 'O0' gives `enabled=False`.

Limits (reported, not fixed): apex O1/O2 also cast the forward pass; wrap it in
`with npuport.runtime.autocast():` by hand (the site is reported). scale_loss is rewritten only where
the scaler is in scope (same function as amp.initialize) and when its body is exactly
`scaled_loss.backward(...)`; optimizer.step() becomes scaler.step/update only when it follows in the
same block on the same optimizer. amp.state_dict()/load_state_dict() are reported.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from npuport.rewriters._util import code, dotted, stmt
from npuport.rewriters.base import Rule, RuleTransformer

SCALER = "scaler"


def _amp_call(node: cst.BaseExpression, api: str) -> bool:
    return isinstance(node, cst.Call) and (dotted(node.func) or "") in (f"amp.{api}", f"apex.amp.{api}")


def _kwarg(call: cst.Call, name: str) -> Optional[cst.BaseExpression]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


class _ApexAmp(RuleTransformer):
    def visit_Module(self, node: cst.Module) -> None:
        self.functions: list[Optional[cst.FunctionDef]] = [None]
        self.scaler_scopes: set[int] = set()
        self.pending: dict[int, str] = {}  # id(new statement) -> optimizer code, waiting for .step()
        self.apex_imports: list[cst.ImportFrom] = []
        self.import_nodes: dict[int, cst.ImportFrom] = {}

        rule = self

        class _FindInit(cst.CSTVisitor):
            def __init__(self) -> None:
                self.stack: list[int] = [0]

            def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
                self.stack.append(id(node))

            def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
                self.stack.pop()

            def visit_Call(self, node: cst.Call) -> None:
                if _amp_call(node, "initialize"):
                    rule.scaler_scopes.add(self.stack[-1])

        node.visit(_FindInit())

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(node)

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        self.functions.pop()
        return updated

    def _scope(self) -> int:
        return 0 if self.functions[-1] is None else id(self.functions[-1])

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.module is not None and dotted(node.module) == "apex" and not isinstance(node.names, cst.ImportStar):
            if any(a.name.value == "amp" and a.asname is None for a in node.names):
                self.apex_imports.append(node)

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom):
        if not any(original is node for node in self.apex_imports):
            return updated
        self.import_nodes[id(original)] = updated
        return updated

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine):
        if len(updated.body) != 1:
            return updated
        small = updated.body[0]
        value = small.value if isinstance(small, (cst.Assign, cst.Expr)) else None
        if value is None:
            return updated
        if isinstance(value, cst.Call) and (dotted(value.func) or "").endswith(("amp.state_dict",
                                                                                  "amp.load_state_dict")):
            self.report(original, "amp state is the scaler's now: save scaler.state_dict() / "
                                  "scaler.load_state_dict() by hand")
            return updated
        if not _amp_call(value, "initialize"):
            return updated
        return self._initialize(original, updated, small, value)  # type: ignore[arg-type]

    def _initialize(self, original, updated, small, call: cst.Call):
        positional = [a.value for a in call.args if a.keyword is None]
        opt_level = _kwarg(call, "opt_level")
        level = opt_level.evaluated_value if isinstance(opt_level, cst.SimpleString) else None
        loss_scale = _kwarg(call, "loss_scale")
        init = "128.0"
        if loss_scale is not None and not isinstance(loss_scale, cst.SimpleString):
            init = code(loss_scale)
        args = f"init_scale={init}" + (", enabled=False" if level == "O0" else "")
        lines = [stmt(f"{SCALER} = npuport.runtime.GradScaler({args})")]
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target = small.targets[0].target
            names = [code(e.value) for e in target.elements] if isinstance(target, (cst.Tuple, cst.List)) \
                else [code(target)]
            sources = [code(p) for p in positional]
            if names != sources[:len(names)] or len(names) != len(sources):
                if len(names) == 1 and len(sources) == 1:
                    lines.insert(0, stmt(f"{names[0]} = {sources[0]}"))
                else:
                    lines.insert(0, stmt(f"{', '.join(names)} = {', '.join(sources)}"))
        self.need_import("npuport.runtime")
        self.fix(original, f"amp.initialize(...) -> {SCALER} = npuport.runtime.GradScaler({args})")
        if level in ("O1", "O2", "O3"):
            self.report(original, f"apex opt_level {level} also cast the forward pass: wrap the forward in "
                                  "`with npuport.runtime.autocast():` by hand")
        lines[0] = lines[0].with_changes(leading_lines=updated.leading_lines)
        lines[-1] = lines[-1].with_changes(trailing_whitespace=updated.trailing_whitespace)
        return cst.FlattenSentinel(lines)

    def leave_With(self, original: cst.With, updated: cst.With):
        if len(updated.items) != 1 or not _amp_call(updated.items[0].item, "scale_loss"):
            return updated
        call: cst.Call = updated.items[0].item  # type: ignore[assignment]
        asname = updated.items[0].asname
        body = updated.body.body if isinstance(updated.body, cst.IndentedBlock) else updated.body.body
        positional = [a.value for a in call.args if a.keyword is None]
        backward = _single_backward(body, asname.name if asname else None)
        if len(positional) < 2 or backward is None:
            self.report(original, "amp.scale_loss with a body other than `scaled_loss.backward()`: "
                                  "use scaler.scale(loss).backward() by hand")
            return updated
        if self._scope() not in self.scaler_scopes:
            self.report(original, "amp.scale_loss where the GradScaler made from amp.initialize is not in "
                                  "scope: pass the scaler here and call scaler.scale(loss).backward()")
            return updated
        loss, optimizer = code(positional[0]), code(positional[1])
        args = code(backward).split(".backward(", 1)[1]
        new = stmt(f"{SCALER}.scale({loss}).backward({args}")
        new = new.with_changes(leading_lines=updated.leading_lines)
        self.pending[id(new)] = optimizer
        self.fix(original, f"with amp.scale_loss(...) -> {SCALER}.scale({loss}).backward()")
        self._with_nodes = getattr(self, "_with_nodes", {})
        self._with_nodes[id(new)] = original
        return new

    def _pair_steps(self, body: list) -> list:
        body = list(body)
        for i, statement in enumerate(body):
            optimizer = self.pending.pop(id(statement), None)
            if optimizer is None:
                continue
            for j in range(i + 1, len(body)):
                if _is_step(body[j], optimizer):
                    old = body[j]
                    step = stmt(f"{SCALER}.step({optimizer})").with_changes(leading_lines=old.leading_lines)
                    body[j:j + 1] = [step, stmt(f"{SCALER}.update()")]
                    break
            else:
                self.report(self._with_nodes[id(statement)],
                            f"{optimizer}.step() not found after the backward in this block: call "
                            f"{SCALER}.step({optimizer}); {SCALER}.update() there by hand")
        return body

    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock):
        if not self.pending:
            return updated
        return updated.with_changes(body=self._pair_steps(updated.body))

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        if self.pending:
            updated = updated.with_changes(body=self._pair_steps(updated.body))
        if self.apex_imports and not _uses_amp(updated):
            # every amp.* use is gone: drop `from apex import amp` too
            for node in self.apex_imports:
                self.fix(node, "from apex import amp removed (native AMP through npuport.runtime)")
            updated = updated.visit(_DropAmpImport({id(n) for n in self.import_nodes.values()}))
        return updated


def _uses_amp(module: cst.Module) -> bool:
    found = []

    class _Uses(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            if isinstance(node.value, cst.Name) and node.value.value == "amp":
                found.append(node)

    module.visit(_Uses())
    return bool(found)


class _DropAmpImport(cst.CSTTransformer):
    def __init__(self, targets: set[int]) -> None:
        super().__init__()
        self.targets = targets

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom):
        if id(original) not in self.targets:
            return updated
        keep = [a for a in updated.names if a.name.value != "amp"]  # type: ignore[union-attr]
        if not keep:
            return cst.RemoveFromParent()
        keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated.with_changes(names=keep)


def _is_step(statement: cst.BaseStatement, optimizer: str) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and code(statement.body[0]) == f"{optimizer}.step()")


def _single_backward(body, name: Optional[cst.BaseExpression]) -> Optional[cst.Call]:
    if name is None or len(body) != 1 or not isinstance(body[0], cst.SimpleStatementLine):
        return None
    small = body[0].body
    if len(small) != 1 or not isinstance(small[0], cst.Expr) or not isinstance(small[0].value, cst.Call):
        return None
    call = small[0].value
    if isinstance(call.func, cst.Attribute) and call.func.attr.value == "backward" and \
            call.func.value.deep_equals(name):
        return call
    return None


class ApexAmpRule(Rule):
    ID = "NPU401"
    DESCRIPTION = ("rewrite apex amp.initialize/scale_loss to npuport.runtime.GradScaler "
                   "(scaler.scale(loss).backward(), scaler.step/update); report what needs a hand")
    FIXABLE = True
    TRIGGERS = ("amp",)
    PATTERN = r"amp\.(initialize|scale_loss|state_dict|load_state_dict)|from apex import"
    SHARED = False  # `from apex import amp` is removed when the rewritten module no longer uses amp
    Transformer = _ApexAmp
