"""Plain-text tables for the terminal."""

from __future__ import annotations


def format_rows(header: tuple[str, ...], rows: list[tuple], max_last: int = 100) -> str:
    rows = [tuple(str(c) for c in r[:-1]) + (_clip(str(r[-1]), max_last),) for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
