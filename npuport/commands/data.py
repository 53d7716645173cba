"""`npuport data synth`: small deterministic data sets in the real on-disk formats."""

from __future__ import annotations

from pathlib import Path

FORMATS = ("coco", "cifar10")


def synth(fmt: str, out: Path, images: int | None = None, size: int = 320, seed: int = 0):
    """COCO instances (boxes and polygons; 16 training images by default) or CIFAR-10 python batches (5000)."""
    if fmt == "coco":
        from ..data.coco import synth_coco

        return synth_coco(Path(out), images=images or 16, size=size, seed=seed)
    from ..data.cifar10 import synth_cifar10

    return synth_cifar10(Path(out), train=images or 5000, seed=seed)
