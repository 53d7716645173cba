"""What the commands print: JSON documents on stdout, logs on stderr, and the text forms of their results."""

from __future__ import annotations

import json

import click

from .contract import RESULTS_FILE


def emit_json(data) -> None:
    """One JSON document on stdout (`--json`)."""
    click.echo(json.dumps(data, indent=1, sort_keys=False, default=str))


def log(msg: str) -> None:
    click.echo(msg, err=True)


def setup_text(res) -> str:
    """`npuport setup`: the plan of a dry run, else one line on the workspace, build and lock."""
    if res.dry_run:
        lines = [f"plan for {res.recipe} in {res.workspace} (dry run, nothing changed):"]
        lines += [f"  fetch  {s['name']}: {s['pin']}" for s in res.sources]
        lines += [f"  patch  {s['id']} ({s['kind']} {s['source']}): {s['why']}" for s in res.steps]
        lines += [f"  build  {c}" for c in res.build]
        return "\n".join(lines)
    state = "updated" if res.changed else "already up to date"
    return (f"{res.recipe}: workspace {res.workspace} {state}; build {'done' if res.built else 'cached'}; "
            f"lock {res.lock_hash[:12]}")


def verify_table(report) -> str:
    from .table import format_rows

    return format_rows(("recipe", "version", "step", "status", "detail"), report.rows())


def train_json(res) -> dict:
    """`npuport train --json`: every node's command, the Slurm script, the work dir and the results."""
    nodes = [{"node": n.node, "command": n.argv, "env": n.env, "shell": n.shell()} for n in res.plan.nodes]
    return {"command": res.launch.argv, "env": res.launch.env, "nodes": nodes,
            "slurm_script": str(res.plan.script) if res.plan.script else None,
            "work_dir": str(res.work_dir), "results": res.results}


def train_text(res, dry_run: bool) -> str | None:
    """The launch plan of a dry run; the results table and file of a run on the node of rank 0; else None."""
    if dry_run:
        return res.plan.describe()
    if res.results is not None:
        from .results.report import mask_rows_note

        rows = res.results.get("mask_rows")
        note = f"\n{mask_rows_note(rows)}" if rows else ""
        return f"{res.table}{note}\nresults: {res.work_dir / RESULTS_FILE}"
    return None


def eval_text(metrics: dict) -> str:
    shown = {k: v for k, v in metrics.items() if k.endswith("mAP")}
    return "  ".join(f"{k} {v:.3f}" for k, v in shown.items()) or json.dumps(metrics)


def port_diff_summary(report) -> str:
    sm = report.summary()
    return (f"{sm['files_changed']} file(s) would change, {sm['fixes']} fix(es), {sm['manual']} site(s) need a hand; "
            "nothing written (--write to apply)")


def to_patch_notes(res) -> list[str]:
    """`npuport overlay to-patch`: the rewriters found, then each file left out and why."""
    return [p.summary() for p in res.patches] + [f"{f.file}: {f.kind}, left out: {f.detail}"
                                                 for f in res.report.files if f.kind != "change"]


def synth_text(fmt: str, report, seed: int) -> str:
    splits = ", ".join(f"{k}: {v}" for k, v in report.splits.items())
    return f"{fmt} data set in {report.out} ({splits}; seed {seed})"
