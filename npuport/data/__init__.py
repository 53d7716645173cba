"""Small generated data sets in the real on-disk formats (COCO, CIFAR-10 python version)."""

from __future__ import annotations

from pathlib import Path

from npuport.data.staging import SynthReport
from npuport.errors import UsageError

FORMATS = ("coco", "cifar10")

__all__ = ["FORMATS", "SynthReport", "synth"]


def synth(fmt: str, out: Path, seed: int = 0) -> SynthReport:
    """Write the generated data set `fmt` ("coco" | "cifar10") into `out` with default sizes."""
    if fmt == "coco":
        from npuport.data.coco import synth_coco

        return synth_coco(Path(out), seed=seed)
    if fmt == "cifar10":
        from npuport.data.cifar10 import synth_cifar10

        return synth_cifar10(Path(out), seed=seed)
    raise UsageError(f"unknown data format {fmt!r}: choose one of {', '.join(FORMATS)}")
