"""A small line chart as a PNG, drawn with Pillow (no matplotlib needed where npuport runs)."""

from __future__ import annotations

from pathlib import Path

COLOURS = ((214, 39, 40), (31, 119, 180), (44, 160, 44), (148, 103, 189), (255, 127, 14))


def line_chart(series: dict[str, list[float]], path: Path, title: str, xlabel: str = "iteration",
               mark_after: int | None = None, size: tuple[int, int] = (820, 420)) -> Path:
    """One line per series over x = 1..n, a shared y axis from 0, a legend; `mark_after` draws a dashed line
    after that x (the end of the warm-up). Written whole: a temporary file, then a rename."""
    from PIL import Image, ImageDraw

    width, height = size
    left, right, top, bottom = 70, 170, 40, 50
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    n = max((len(v) for v in series.values()), default=0)
    top_value = max((max(v) for v in series.values() if v), default=0) or 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_at(i: int) -> float:
        return left + (plot_w * (i - 1) / (n - 1) if n > 1 else plot_w / 2)

    def y_at(value: float) -> float:
        return top + plot_h - plot_h * value / (top_value * 1.05)

    draw.text((left, 12), title, fill="black")
    draw.rectangle([left, top, left + plot_w, top + plot_h], outline="black")
    for k in range(5):  # y grid and labels
        value = top_value * 1.05 * k / 4
        y = y_at(value)
        draw.line([left, y, left + plot_w, y], fill=(225, 225, 225))
        draw.text((8, y - 6), f"{value:.0f}", fill="black")
    for i in range(1, n + 1, max(1, n // 10)):
        draw.text((x_at(i) - 4, top + plot_h + 6), str(i), fill="black")
    draw.text((left + plot_w // 2 - 20, height - 22), xlabel, fill="black")
    if mark_after and 0 < mark_after < n:
        x = (x_at(mark_after) + x_at(mark_after + 1)) / 2
        for y in range(top, top + plot_h, 8):
            draw.line([x, y, x, y + 4], fill=(120, 120, 120))
        draw.text((x + 4, top + 4), "warm-up ends", fill=(90, 90, 90))
    for k, (name, values) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        points = [(x_at(i + 1), y_at(v)) for i, v in enumerate(values)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        ly = top + 10 + 18 * k
        draw.line([width - right + 12, ly + 6, width - right + 36, ly + 6], fill=colour, width=3)
        draw.text((width - right + 42, ly), name, fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.tmp")
    image.save(staged, format="PNG")
    staged.replace(path)
    return path
