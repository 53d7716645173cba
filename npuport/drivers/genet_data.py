"""GE-Net's input pipeline: one rank's CIFAR-10 batches, cut and augmented with numpy on the host (the upstream
train.py's RandomCrop(32, padding=4) and RandomHorizontalFlip), normalised on the device."""
from __future__ import annotations

from typing import Any

import numpy as np

from npuport.drivers.process import Dist
from npuport.errors import UsageError

MEAN = (0.4914, 0.4822, 0.4465)  # the upstream train.py's CIFAR-10 statistics
STD = (0.2023, 0.1994, 0.2010)
PAD = 4


class Batches:
    """One rank's batches of (uint8 images, labels): DistributedSampler order, random crop and flip on the host."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch: int, dist: Dist, seed: int):
        from torch.utils.data import DistributedSampler

        self.images, self.labels, self.batch = images, labels, batch
        self.sampler = DistributedSampler(range(len(labels)), num_replicas=dist.world_size, rank=dist.rank,
                                          shuffle=True, seed=seed, drop_last=True)
        self.per_epoch = len(self.sampler) // batch
        if self.per_epoch < 1:
            raise UsageError(f"{len(labels)} training images give rank {dist.rank} {len(self.sampler)}, fewer than "
                             f"one batch of {batch}: use more data or a smaller --samples-per-device")
        self.rng = np.random.default_rng([seed, dist.rank])

    def epoch(self, epoch: int):
        self.sampler.set_epoch(epoch)
        order = np.fromiter(iter(self.sampler), dtype=np.int64)
        for start in range(0, self.per_epoch * self.batch, self.batch):
            idx = order[start:start + self.batch]
            yield augment(self.images[idx], self.rng), self.labels[idx]


def augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RandomCrop(32, padding=4) with zero padding and RandomHorizontalFlip, per image, as uint8."""
    n, _, h, w = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)))
    oy, ox = rng.integers(0, 2 * PAD + 1, (2, n))
    rows = (oy[:, None] + np.arange(h))[:, None, :, None]
    cols = (ox[:, None] + np.arange(w))[:, None, None, :]
    out = padded[np.arange(n)[:, None, None, None], np.arange(images.shape[1])[None, :, None, None], rows, cols]
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, :, ::-1]
    return np.ascontiguousarray(out)


class Normalize:
    """uint8 NCHW on the host -> normalised float32 on the device."""

    def __init__(self, device: Any):
        import torch

        self.device = device
        self.mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255

    def __call__(self, images: np.ndarray, labels: np.ndarray) -> tuple:
        import torch

        x = torch.from_numpy(images).to(self.device, non_blocking=True).float()
        y = torch.from_numpy(labels).to(self.device, non_blocking=True)
        return (x - self.mean) / self.std, y
