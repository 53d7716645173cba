"""Small generated data sets in the real on-disk formats (COCO, CIFAR-10 python version)."""

from __future__ import annotations

from pathlib import Path

from npuport.data.staging import SynthReport
from npuport.errors import UsageError

FORMATS = ("coco", "cifar10")

__all__ = ["FORMATS", "SynthReport", "synth"]


def synth(fmt: str, out: Path, images: int | None = None, size: int = 320, seed: int = 0,
          objects: str | None = None) -> SynthReport:
    """Write the generated data set `fmt` into `out`: COCO instances (boxes and polygons; 16 training images
    of `size` pixels by default, `objects` "MIN-MAX" shapes each, default 2-5) or CIFAR-10 python batches
    (5000 training images by default)."""
    if fmt == "coco":
        from npuport.data.coco import DEFAULT_OBJECTS, synth_coco

        counts = parse_objects(objects) if objects else DEFAULT_OBJECTS
        return synth_coco(Path(out), images=images or 16, size=size, seed=seed, objects=counts)
    if fmt == "cifar10":
        if objects:
            raise UsageError("data synth: --objects is for --format coco (CIFAR-10 images hold one object each)")
        from npuport.data.cifar10 import synth_cifar10

        return synth_cifar10(Path(out), train=images or 5000, seed=seed)
    raise UsageError(f"unknown data format {fmt!r}: choose one of {', '.join(FORMATS)}")


def parse_objects(text: str) -> tuple[int, int]:
    """'2-5' -> (2, 5); '8' -> (8, 8)."""
    lo, sep, hi = text.partition("-")
    try:
        return int(lo), int(hi if sep else lo)
    except ValueError:
        raise UsageError(f"data synth: --objects {text!r} is not a count: give MIN-MAX or N, e.g. "
                         "--objects 2-5") from None
