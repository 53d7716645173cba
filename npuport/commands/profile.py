"""`npuport profile NAME`: train a few iterations of a set-up workspace under a census of every step.

The census (npuport.runtime.census) counts, per iteration, the ops whose output shape depends on data,
the host syncs, the int64 arithmetic and the (op, shape, dtype) signatures never seen before, and ranks
the source lines they come from; `--compile` instead counts torch.compile's graph breaks and recompiles
(npuport.runtime.compile_watch). The run itself is `npuport train` with one process.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..contract import PROFILE_FILE
from ..errors import CheckFailed, UsageError
from ..recipe import Recipe
from ..table import format_rows
from .train import TrainOptions, train

PLOT_FILE = "npuport-profile.png"
# What a static training step reaches after warm-up (issue: static training steps).
GOALS = {"new_signatures": 0, "dynamic": 0, "syncs": 5}
COMPILE_GOALS = {"recompiles": 0}


@dataclass
class ProfileOptions:
    iters: int = 20
    warmup: int = 3
    device: str | None = None
    data: str = "synthetic"
    img_scale: str | None = None
    work_dir: str | None = None
    workspace: str | None = None
    seed: int = 0
    backend: str | None = None  # a torch.compile backend: count graph breaks and recompiles instead
    plot: str | None = None
    extra: list[str] = field(default_factory=list)


@dataclass
class ProfileResult:
    report: dict
    work_dir: Path
    plot: Path | None

    def goals(self) -> list[dict]:
        """Each goal of a static step with the measured value (mean after warm-up) and whether it is met."""
        if self.report.get("kind") == "compile":
            after = self.report["after_warmup"]
            return [{"goal": k, "value": after[k], "target": v, "met": after[k] <= v} for k, v in COMPILE_GOALS.items()]
        measured = self.report["measured"]
        return [{"goal": k, "value": measured[k], "target": v, "met": measured[k] is not None and measured[k] <= v}
                for k, v in GOALS.items()]

    def to_json(self) -> dict:
        return {**self.report, "goals": self.goals(), "plot": str(self.plot) if self.plot else None,
                "work_dir": str(self.work_dir)}


def check(opts: ProfileOptions) -> None:
    if opts.iters < 1:
        raise UsageError(f"--iters {opts.iters}: give at least 1 iteration to profile")
    if opts.warmup < 0 or opts.warmup >= opts.iters:
        raise UsageError(f"--warmup {opts.warmup}: give 0..{opts.iters - 1} (fewer than --iters {opts.iters}), "
                         "so that some iterations are measured")
    if opts.plot:  # before the run: the nearest existing folder above the plot must be writable
        folder = Path(opts.plot).expanduser().absolute().parent
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise UsageError(f"--plot {opts.plot}: {folder} is not a writable folder; give a writable path")


def profile(recipe: Recipe, opts: ProfileOptions, log=print) -> ProfileResult:
    check(opts)
    if recipe.train is None:
        raise UsageError(f"recipe {recipe.name} has no [train] table; there is no training step to profile")
    work_dir = Path(opts.work_dir or Path("work_dirs") / f"{recipe.name}-profile").resolve()
    topts = TrainOptions(device=opts.device, data=opts.data, max_iters=opts.iters, img_scale=opts.img_scale,
                         work_dir=str(work_dir), seed=opts.seed, workspace=opts.workspace, extra=list(opts.extra),
                         profile=True, profile_warmup=opts.warmup, compile_backend=opts.backend,
                         warmup_iters=min(opts.warmup, opts.iters - 1))
    run = train(recipe, topts, log=log)
    path = run.work_dir / PROFILE_FILE
    if not path.exists():
        raise CheckFailed(f"the training driver of {recipe.name} ({recipe.train.driver}) wrote no {path}; "
                          "it does not call npuport.runtime.profiling")
    report = json.loads(path.read_text())
    rows = report["iterations"]
    if report.get("kind") == "compile":
        series = {k: [r[k] for r in rows] for k in ("recompiles", "graph_breaks", "new_graphs")}
        title = f"{recipe.name}: torch.compile ({report['backend']}, dynamic=False) per iteration"
    else:
        series = {"new signatures": [r["new_signatures"] for r in rows], "host syncs": [r["syncs"] for r in rows],
                  "data-dependent": [r["dynamic"] for r in rows]}
        title = f"{recipe.name}: new (op, shape, dtype) signatures, host syncs and data-dependent ops per iteration"
    from ..results.plot import line_chart

    target = Path(opts.plot) if opts.plot else run.work_dir / PLOT_FILE
    try:
        plot = line_chart(series, target, title, mark_after=report["warmup"])
    except OSError as exc:
        raise UsageError(f"--plot {target}: cannot write it ({exc.strerror or exc}); give a writable path "
                         f"(the report itself is in {path})") from None
    return ProfileResult(report, run.work_dir, plot)


def format_report(result: ProfileResult, top: int = 5) -> str:
    report = result.report
    rows = report["iterations"]
    lines: list[str] = []
    if report.get("kind") == "compile":
        keys = ("recompiles", "graph_breaks", "new_graphs", "seconds")
        lines.append(format_rows(("iter", *keys), [(r["iter"], *(r[k] for k in keys)) for r in rows]))
        for kind, reasons in report["reasons"].items():
            if reasons:
                lines += ["", f"{kind} after warm-up:"] + [f"  {r['count']:>4}  {r['reason']}" for r in reasons[:top]]
    else:
        keys = ("ops", "dynamic", "syncs", "int64", "new_signatures", "seconds")
        lines.append(format_rows(("iter", *keys), [(r["iter"], *(r[k] for k in keys)) for r in rows]))
        m = report["measured"]
        lines += ["", f"after {report['warmup']} warm-up iterations, per iteration (mean / max): "
                  + ", ".join(f"{k} {m[k]} / {m[k + '_max']}" for k in keys[:-1])]
        for category, sites in report["sites"].items():
            if sites:
                lines += ["", f"top {category} sites (per iteration):"]
                lines += [f"  {s['per_iter']:>8}  {s['site']}  {s['op']}" for s in sites[:top]]
    lines.append("")
    for g in result.goals():
        lines.append(f"goal {g['goal']} <= {g['target']}: {g['value']} {'met' if g['met'] else 'NOT met'}")
    if result.plot:
        lines.append(f"plot: {result.plot}")
    return "\n".join(lines)
