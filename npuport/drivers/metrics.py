"""The run contract's metrics file, written by rank 0 of a driver that has no mmcv runner (npuport.runtime.timing
writes it for those that have one)."""
from __future__ import annotations

import json
import os
from typing import List, Optional, TextIO

from npuport import contract
from npuport.contract import METRICS_FILE


class Metrics:
    """Rank 0's per-iteration records in WORK_DIR/npuport-metrics.jsonl, one flushed JSON line each."""

    def __init__(self, work_dir: str, world_size: int, enabled: bool, warmup: int):
        self.world_size, self.warmup = world_size, warmup
        self.times: List[float] = []
        self.samples: List[int] = []
        self.losses: List[float] = []
        self.stream: Optional[TextIO] = None
        if enabled:
            os.makedirs(work_dir, exist_ok=True)
            self.stream = open(os.path.join(work_dir, METRICS_FILE), "a", encoding="utf-8")

    def record(self, iteration: int, seconds: float, samples: int, loss: float) -> None:
        self.times.append(seconds)
        self.samples.append(samples)
        self.losses.append(loss)
        if self.stream is not None:
            self.stream.write(json.dumps(contract.metrics_row(iteration, seconds, samples, self.world_size, loss)) + "\n")
            self.stream.flush()

    def fps(self) -> Optional[float]:
        """Samples per second over all devices after the warm-up iterations; None before any."""
        return contract.fps(self.samples[self.warmup:], self.times[self.warmup:], self.world_size)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
