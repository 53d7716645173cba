"""A learnable CIFAR-10 set in the real "python version" layout, and a numpy reader for that layout.

    out/cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch, batches.meta

Each batch is a Python 2 style pickle of {b"data": uint8 (N, 3072) with the R, G and B planes of a 32x32
image one after another, b"labels": [int], b"batch_label": bytes, b"filenames": [bytes]}. Every class is
its own pattern (stripes, discs, rings, ...) in a class-tinted colour, with noise, so a small CNN learns it
in minutes. Note: torchvision's CIFAR10 class checks the md5 of the real files, so it refuses these.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from npuport.data import py2pickle
from npuport.data.staging import SynthReport, count_files, staged
from npuport.errors import NpuportError, UsageError

FOLDER = "cifar-10-batches-py"
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_BATCHES = 5
SIDE = 32


def synth_cifar10(out: Path, train: int = 5000, test: int = 1000, seed: int = 0) -> SynthReport:
    """Write `train` training images in five batches and `test` test images, balanced over the classes."""
    if train < TRAIN_BATCHES or test < 1:
        raise UsageError(f"synth cifar10: need at least {TRAIN_BATCHES} training and 1 test image, "
                         f"got train={train} test={test}")
    out = Path(out)
    marker = {"format": "cifar10", "seed": seed, "train": train, "test": test}
    with staged(out, marker) as tmp:
        folder = tmp / FOLDER
        folder.mkdir()
        x, y = make_images(np.random.default_rng([seed, 0]), train)
        for i, (xb, yb, ids) in enumerate(zip(*(np.array_split(a, TRAIN_BATCHES)
                                                 for a in (x, y, np.arange(train)))), start=1):
            write_batch(folder / f"data_batch_{i}", f"training batch {i} of {TRAIN_BATCHES}", xb, yb, ids)
        x, y = make_images(np.random.default_rng([seed, 1]), test)
        write_batch(folder / "test_batch", "testing batch 1 of 1", x, y, np.arange(test))
        meta = {b"num_cases_per_batch": -(-train // TRAIN_BATCHES),
                b"label_names": [n.encode() for n in LABEL_NAMES], b"num_vis": 3 * SIDE * SIDE}
        (folder / "batches.meta").write_bytes(py2pickle.dumps(meta))
    return SynthReport("cifar10", out, seed, {"train": train, "test": test}, count_files(out))


def write_batch(path: Path, label: str, x: np.ndarray, y: np.ndarray, ids: np.ndarray) -> None:
    batch = {
        b"batch_label": label.encode(),
        b"labels": [int(v) for v in y],
        b"data": x.reshape(len(x), -1),
        b"filenames": [f"npuport_{LABEL_NAMES[c]}_{i:06d}.png".encode() for c, i in zip(y, ids)],
    }
    path.write_bytes(py2pickle.dumps(batch))


def make_images(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` images (N, 3, 32, 32) uint8 and their labels, each class equally often (shuffled)."""
    labels = rng.permutation(np.arange(count) % len(LABEL_NAMES))
    images = np.empty((count, 3, SIDE, SIDE), np.uint8)
    for n, label in enumerate(labels):
        images[n] = draw(rng, int(label))
    return images, labels.astype(np.int64)


def draw(rng: np.random.Generator, label: int) -> np.ndarray:
    """One image: the class pattern as a mask, a class-tinted foreground, a random background, noise."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    cy, cx = rng.uniform(11, 21, 2)
    period, phase = rng.uniform(5, 9), rng.uniform(0, 9)
    radius = rng.uniform(6, 11)
    dist = np.hypot(yy - cy, xx - cx)
    masks = (
        np.sin(2 * np.pi * (yy + phase) / period) > 0,  # horizontal stripes
        np.sin(2 * np.pi * (xx + phase) / period) > 0,  # vertical stripes
        np.sin(2 * np.pi * (xx + yy + phase) / period) > 0,  # diagonal stripes
        ((xx + phase) // (period / 1.5) + (yy + phase) // (period / 1.5)) % 2 == 0,  # checkerboard
        dist < radius,  # disc
        np.abs(dist - radius) < 2.0,  # ring
        (np.abs(xx - cx) < radius * 0.8) & (np.abs(yy - cy) < radius * 0.8),  # square
        (np.abs(xx - cx) < 2.5) | (np.abs(yy - cy) < 2.5),  # cross
        (yy - cy) > -np.abs(xx - cx) * 1.7 + radius * 0.2,  # wedge opening downwards
        np.hypot((yy - cy) % 8 - 4, (xx - cx) % 8 - 4) < 2.2,  # dot grid
    )
    mask = masks[label][None]
    tint = np.array([np.cos(label * 0.63), np.cos(label * 0.63 + 2.1), np.cos(label * 0.63 + 4.2)])
    fg = 128 + 90 * tint + rng.normal(0, 35, 3)
    bg = rng.uniform(30, 225, 3)
    img = np.where(mask, fg[:, None, None], bg[:, None, None]) + rng.normal(0, 18, (3, SIDE, SIDE))
    return np.clip(img, 0, 255).astype(np.uint8)


class BatchUnpickler(pickle.Unpickler):
    """Loads only what CIFAR batches hold: containers, numbers, strings and numpy arrays."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def read_batch(path: Path) -> dict:
    """One batch as a dict with bytes keys (the encoding='bytes' convention)."""
    try:
        with open(path, "rb") as f:
            return BatchUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise UsageError(f"CIFAR-10 batch {path} is missing: generate one with "
                         "`npuport data synth --format cifar10` or point at the real data") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise NpuportError(f"{path} is not a CIFAR-10 python batch ({exc}): re-download or regenerate it") from exc


def find_root(root: Path) -> Path:
    """The folder holding the batches: `root/cifar-10-batches-py` or `root` itself."""
    root = Path(root)
    for folder in (root / FOLDER, root):
        if (folder / "data_batch_1").is_file():
            return folder
    raise UsageError(f"no CIFAR-10 batches under {root} (looked for {FOLDER}/data_batch_1): "
                     "generate them with `npuport data synth --format cifar10`")


def load_cifar10(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): images as uint8 (N, 3, 32, 32), labels as int64 (N,)."""
    folder = find_root(root)
    train = [read_batch(folder / f"data_batch_{i}") for i in range(1, TRAIN_BATCHES + 1)]
    test = read_batch(folder / "test_batch")

    def stack(batches: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, SIDE, SIDE)
        y = np.concatenate([np.asarray(b[b"labels"], np.int64) for b in batches])
        return x, y

    return (*stack(train), *stack([test]))
