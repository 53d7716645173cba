"""`npuport list` and `npuport show`: recipes, their sources and supported versions, steps, references."""

from __future__ import annotations

from dataclasses import asdict

from ..recipe import Recipe


def source_json(src) -> dict:
    data = {k: v for k, v in asdict(src).items() if v not in ("", (), [])}
    if src.kind == "pypi":
        data["versions"] = [p.version for p in src.pins()]
        data.pop("alternatives", None)
    return data


def recipe_summary(recipe: Recipe) -> dict:
    return {"name": recipe.name, "description": recipe.description,
            "sources": [source_json(s) for s in recipe.sources], "steps": len(recipe.steps)}


def recipe_detail(recipe: Recipe) -> dict:
    data = recipe_summary(recipe)
    data.update(
        model=recipe.model,
        folder=str(recipe.folder),
        steps=[{k: v for k, v in asdict(s).items() if v not in ("", (), [])} for s in recipe.steps],
        train=asdict(recipe.train) if recipe.train else None,
        references=[asdict(r) for r in recipe.references],
    )
    return data


def format_list(recipes: list[Recipe]) -> str:
    lines = []
    for r in recipes:
        pins = ", ".join(s.pin_label for s in r.sources)
        lines.append(f"{r.name:<16} {r.description}\n{'':<16} sources: {pins}; {len(r.steps)} patch steps")
    return "\n".join(lines)


def format_show(recipe: Recipe) -> str:
    out = [f"{recipe.name}: {recipe.description}", f"model: {recipe.model}", "sources:"]
    for s in recipe.sources:
        extra = ""
        if s.kind == "pypi":
            extra = f" sha256 {s.sha256[:16]}…"
            if s.option:
                extra += f"; --{s.option} {' | '.join(p.version for p in s.pins())} (default {s.version})"
        elif s.kind == "git":
            extra = f" commit {s.commit}" + (f" tag {s.tag}" if s.tag else "")
        out.append(f"  {s.name:<10} {s.kind:<5} {s.pin_label}{extra}")
    out.append(f"steps ({len(recipe.steps)}):")
    for i, st in enumerate(recipe.steps, 1):
        what = {"rewrite": ", ".join(st.rules), "diff": st.patch, "files": f"{len(st.files)} new file(s)",
                "overlay": f"{len(st.map)} whole file(s) from {st.folder}"}[st.kind]
        only = f" [only {', '.join(st.versions)}]" if st.versions else ""
        out.append(f"  {i:>2}. {st.id} ({st.kind} {st.source}: {what}){only}\n      why: {st.why}")
    if recipe.train:
        t = recipe.train
        out.append(f"train: {t.driver}, {t.samples_per_device} samples/device, lr {t.lr}, amp {t.amp}"
                   f" (loss scale {t.loss_scale:g}), {t.epochs} epochs, warm-up {t.warmup_iters} iterations")
    if recipe.references:
        out.append("reference results (hand-made ports):")
        for ref in recipe.references:
            acc = f", accuracy {ref.accuracy}" if ref.accuracy is not None else ""
            out.append(f"  {ref.device.upper()} {ref.world_size}p: {ref.fps:g} fps{acc}")
    return "\n".join(out)
