"""This run beside the recipe's reference results, as a plain-text table."""

from __future__ import annotations

from npuport.recipe.model import Reference

# the device kind that reference results name for each runtime device
DEVICE_KIND = {"cuda": "gpu", "gpu": "gpu", "npu": "npu", "cpu": "cpu"}


def fmt(value: object, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:.0f}"
    return str(value)


def matching_reference(results: dict, references: list[Reference]) -> Reference | None:
    """The first reference of the same device kind and world size as this run."""
    kind = DEVICE_KIND.get(str(results.get("device", "")).lower(), str(results.get("device", "")))
    for ref in references:
        if ref.device == kind and ref.world_size == results.get("world_size"):
            return ref
    return None


def format_table(results: dict, references: list[Reference], metric: str) -> str:
    """Rows: this run, then each reference; last line: our FPS over the matching reference's FPS."""
    metric = metric or "accuracy"
    header = ("", "device", "world", "FPS", metric)
    rows = [("this run", str(results.get("device", "?")), f"{results.get('world_size', '?')}p",
             f"{results['fps']:.2f}" if results.get("fps") is not None else "-", fmt(results.get(metric)))]
    rows += [("reference", ref.device, f"{ref.world_size}p", f"{ref.fps:.2f}", fmt(ref.accuracy))
             for ref in references]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             .rstrip() for row in [header, *rows]]
    ref = matching_reference(results, references)
    where = f"{results.get('device', '?')} {results.get('world_size', '?')}p"
    if ref is None or not results.get("fps") or not ref.fps:
        lines.append(f"FPS vs reference: no reference for {where}")
    else:
        lines.append(f"FPS vs reference ({ref.device} {ref.world_size}p): "
                     f"{results['fps'] / ref.fps:.2f}x ({results['fps']:.2f} / {ref.fps:.2f})")
    recipe = results.get("recipe")
    return (f"recipe {recipe}\n" if recipe else "") + "\n".join(lines)
