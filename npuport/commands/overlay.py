"""`npuport overlay audit|import|to-patch`: bring a hand-made whole-file port in (the work is npuport.overlay's)."""

from __future__ import annotations


def to_patch_file(folder, onto, maps, *, mirror_pairs=(), max_downloads: int = 6, out: str | None = None):
    """npuport.overlay.to_patch, its diff written whole to `out` when one is given (and there is a diff)."""
    from ..atomic import write_text
    from ..overlay import to_patch

    res = to_patch(folder, onto, maps, mirror_pairs=mirror_pairs, max_downloads=max_downloads)
    if out and res.diff:
        write_text(out, res.diff)
    return res
