"""`npuport list` and `npuport show`: recipes, their sources and supported versions, steps, references."""

from __future__ import annotations

from dataclasses import asdict

from ..recipe import Recipe
from ..recipe.resolve import options


def source_json(src) -> dict:
    data = {k: v for k, v in asdict(src).items() if v not in ("", (), [])}
    if src.kind == "pypi":
        data["versions"] = [p.version for p in src.pins()]
        data.pop("alternatives", None)
    return data


def choices(recipe: Recipe) -> dict[str, dict]:
    """The versions a user may choose, per option: {'mmcv': {'default': '1.3.8', 'versions': [...], 'note': ...}}."""
    return {opt: {"default": s.version, "versions": [p.version for p in s.pins()], **({"note": s.note} if s.note else {})}
            for opt, s in options(recipe).items()}


def runs_on(recipe: Recipe, step) -> list[str]:
    """The pinned versions of its source that a step runs on (all of them for a step without `versions`)."""
    return [p.version for p in recipe.source(step.source).pins() if step.applies_to(p.version)]


def recipe_summary(recipe: Recipe) -> dict:
    return {"name": recipe.name, "description": recipe.description, "choices": choices(recipe),
            "sources": [source_json(s) for s in recipe.sources], "steps": len(recipe.steps)}


def recipe_detail(recipe: Recipe) -> dict:
    data = recipe_summary(recipe)
    data.update(
        model=recipe.model,
        folder=str(recipe.folder),
        steps=[{**{k: v for k, v in asdict(s).items() if v not in ("", (), [])},
                **({"runs_on": runs_on(recipe, s)} if s.versions else {})} for s in recipe.steps],
        train=asdict(recipe.train) if recipe.train else None,
        references=[asdict(r) for r in recipe.references],
    )
    return data


def format_list(recipes: list[Recipe]) -> str:
    lines = []
    for r in recipes:
        pins = ", ".join(s.pin_label for s in r.sources)
        offered = "".join(f"; --{o} {' | '.join(c['versions'])}" for o, c in choices(r).items() if len(c["versions"]) > 1)
        count = sum(not s.versions or s.applies_to(r.source(s.source).version) for s in r.steps)  # default pins'
        steps = f"{count} patch step" + ("s" if count != 1 else "")
        lines.append(f"{r.name:<16} {r.description}\n{'':<16} sources: {pins}{offered}; {steps}")
    return "\n".join(lines)


def format_show(recipe: Recipe) -> str:
    out = [f"{recipe.name}: {recipe.description}", f"model: {recipe.model}", "sources:"]
    for s in recipe.sources:
        extra = ""
        if s.kind == "pypi":
            extra = f" sha256 {s.sha256[:16]}…"
            if s.option:
                extra += f"; --{s.option} {' | '.join(p.version for p in s.pins())} (default {s.version})"
                extra += f"\n{'':<19}{s.note}" if s.note else ""
        elif s.kind == "git":
            extra = f" commit {s.commit}" + (f" tag {s.tag}" if s.tag else "")
        out.append(f"  {s.name:<10} {s.kind:<5} {s.pin_label}{extra}")
    shown = [st for st in recipe.steps if runs_on(recipe, st) or recipe.source(st.source).kind != "pypi"]
    sets = f"; {', '.join(recipe.includes)} included" if recipe.includes else ""
    out.append(f"steps ({len(shown)}{sets}):")
    for i, st in enumerate(shown, 1):
        what = {"rewrite": ", ".join(st.rules), "diff": st.patch, "files": f"{len(st.files)} new file(s)",
                "overlay": f"{len(st.map)} whole file(s) from {st.folder}"}[st.kind]
        if st.kind == "diff" and st.include:
            what = f"{st.include}/{st.patch.rpartition(st.include + '/')[2]}"
        only = f" [only {', '.join(runs_on(recipe, st))}: {', '.join(st.versions)}]" if st.versions else ""
        origin = f" from {st.include}" if st.include and st.kind != "diff" else ""
        out.append(f"  {i:>2}. {st.id} ({st.kind} {st.source}{origin}: {what}){only}\n      why: {st.why}")
    other = len(recipe.steps) - len(shown)
    if other:
        out.append(f"  ({other} more step(s) of the included sets are for other releases than the pinned ones; "
                   f"`npuport pin {recipe.name}` tries them on a new one)")
    if recipe.train:
        t = recipe.train
        out.append(f"train: {t.driver}, {t.samples_per_device} samples/device, amp {t.amp}"
                   f" (loss scale {t.loss_scale:g}), {t.epochs} epochs, warm-up {t.warmup_iters} iterations")
    if recipe.references:
        out.append("reference results (hand-made ports):")
        for ref in recipe.references:
            acc = f", accuracy {ref.accuracy}" if ref.accuracy is not None else ""
            out.append(f"  {ref.device.upper()} {ref.world_size}p: {ref.fps:g} fps{acc}")
    return "\n".join(out)
