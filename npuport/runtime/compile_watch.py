"""Graph breaks and recompiles of torch.compile, per training iteration.

TorchAir, Ascend's graph mode, traces through the same frontend (TorchDynamo): a step that breaks the
graph or recompiles here does so there. The step is compiled with ``dynamic=False`` (shapes are
specialised, as on the NPU) and a CPU backend (``aot_eager`` by default: forward and backward graphs,
no code generation).
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, Dict, List

ARTIFACT_LOGGERS = {
    "recompiles": "torch._dynamo.guards.__recompiles",
    "graph_breaks": "torch._dynamo.symbolic_convert.__graph_breaks",
}


class CompileWatch:
    """``begin()`` / ``end()`` bracket one iteration; ``wrap(fn)`` compiles the step's forward."""

    def __init__(self, warmup: int = 3, backend: str = "aot_eager") -> None:
        import torch

        self.warmup = warmup
        self.backend = backend
        self.iterations: List[Dict[str, Any]] = []
        self.reasons: Dict[str, Counter] = {"recompiles": Counter(), "graph_breaks": Counter()}
        self._messages: Dict[str, List[str]] = {"recompiles": [], "graph_breaks": []}
        self._torch = torch
        torch._logging.set_logs(recompiles=True, graph_breaks=True)
        for kind, name in ARTIFACT_LOGGERS.items():
            logger = logging.getLogger(name)
            logger.propagate = False  # not on the console: the report has them
            logger.handlers = [_Collect(self._messages[kind])]
        self._started = 0.0
        self._graphs = 0
        self._open = False

    def wrap(self, fn: Any) -> Any:
        return self._torch.compile(fn, backend=self.backend, dynamic=False)

    def begin(self) -> None:
        for messages in self._messages.values():
            messages.clear()
        self._graphs = self._unique_graphs()
        self._started = time.perf_counter()
        self._open = True

    def end(self) -> None:
        if not self._open:
            return
        self._open = False
        number = len(self.iterations) + 1
        row = {"iter": number, "recompiles": len(self._messages["recompiles"]),
               "graph_breaks": len(self._messages["graph_breaks"]),
               "new_graphs": self._unique_graphs() - self._graphs,
               "seconds": round(time.perf_counter() - self._started, 4)}
        self.iterations.append(row)
        if number > self.warmup:
            for kind, messages in self._messages.items():
                for message in messages:
                    self.reasons[kind][_reason(kind, message)] += 1

    def _unique_graphs(self) -> int:
        from torch._dynamo.utils import counters

        return int(counters["stats"].get("unique_graphs", 0))

    def report(self) -> Dict[str, Any]:
        measured = [row for row in self.iterations if row["iter"] > self.warmup]
        summary = {key: sum(row[key] for row in measured) for key in ("recompiles", "graph_breaks", "new_graphs")}
        return {"backend": self.backend, "warmup": self.warmup, "iterations": self.iterations,
                "after_warmup": {"iters": len(measured), **summary},
                "reasons": {k: [{"reason": r, "count": n} for r, n in c.most_common(15)]
                            for k, c in self.reasons.items()}}


class _Collect(logging.Handler):
    def __init__(self, into: List[str]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


def _reason(kind: str, message: str) -> str:
    """One line: where, and the first guard that failed (recompiles) or the break's reason."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return "?"
    if kind == "recompiles":
        where = lines[0].replace("Recompiling function ", "")
        guard = next((line.lstrip("- ") for line in lines[2:3]), "")
        return f"{where}: {guard}"[:240]
    where = lines[0].replace("Graph break (user stack suppressed due to duplicate graph break) in user code at ", "")
    where = where.replace("Graph break in user code at ", "")
    cause = next((line for line in lines[2:] if not line.startswith(("Explanation", "Hint", "Developer"))), "")
    return f"{where}: {cause}"[:240]
