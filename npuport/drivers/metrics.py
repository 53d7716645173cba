"""The run contract's metrics file, written by rank 0 of a driver that has no mmcv runner (npuport.runtime.timing
writes it for those that have one)."""
from __future__ import annotations

import time
from typing import List, Optional, TextIO

from npuport import contract


class Metrics:
    """The iterations of the run; rank 0 also appends them to the contract's metrics file."""

    def __init__(self, work_dir: str, world_size: int, enabled: bool, warmup: int):
        self.world_size, self.warmup = world_size, warmup
        self.times: List[float] = []
        self.samples: List[int] = []
        self.losses: List[float] = []
        self.stream: Optional[TextIO] = None
        self.last_cpu: Optional[float] = None
        if enabled:
            self.stream = contract.open_metrics(work_dir)

    def record(self, iteration: int, seconds: float, samples: int, loss: float) -> None:
        cpu_now = time.process_time()
        cpu = None if self.last_cpu is None else cpu_now - self.last_cpu
        self.last_cpu = cpu_now
        self.times.append(seconds)
        self.samples.append(samples)
        self.losses.append(loss)
        if self.stream is not None:
            contract.append_metrics(self.stream, iteration, seconds, samples, self.world_size, loss, cpu)

    def fps(self) -> Optional[float]:
        """Samples per second over all devices after the warm-up iterations; None before any."""
        return contract.fps(self.samples[self.warmup:], self.times[self.warmup:], self.world_size)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
