"""Overhead of npuport's runtime additions on a training step, on and off side by side.

    python benchmarks/runtime_overhead.py [--steps 40] [--rounds 5] [--amp]

"on" runs each step the way a patched tree does: the device and tensors through
npuport.runtime, the optimizer step through the hook's code path, and timing.record after
every step (writing npuport-metrics.jsonl to a temporary work dir). "off" runs the same
steps with plain torch calls. Rounds alternate on/off so drift hits both; the printed
ratio is median(on) / median(off) per step (target <= 1.03).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from npuport import runtime  # noqa: E402
from npuport.runtime import timing  # noqa: E402


class Net(torch.nn.Module):
    """A small conv net: a few ms per step on a CPU core."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Buffer:
    def __init__(self) -> None:
        self.val_history: dict = {"time": []}


class Quiet:
    def info(self, line: str) -> None:
        pass


class Runner:
    """The runner attributes timing.record reads, filled like mmcv's IterTimerHook fills them."""

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir
        self.mode = "train"
        self.iter = 0
        self.outputs: dict = {}
        self.log_buffer = Buffer()
        self.logger = Quiet()


def run(steps: int, with_runtime: bool, amp: bool, work_dir: str) -> float:
    """Seconds per step over `steps` training steps."""
    torch.manual_seed(0)
    device = runtime.device() if with_runtime else torch.device("cpu")
    model = Net().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    data = torch.randn(8, 3, 32, 32, device=device)
    target = torch.randint(0, 10, (8,), device=device)
    runner = Runner(work_dir)
    scaler = runtime.GradScaler(init_scale=128.0, enabled=amp) if with_runtime else None
    last = time.perf_counter()
    start = last
    for _ in range(steps):
        if with_runtime:
            with runtime.autocast(enabled=amp):
                loss = torch.nn.functional.cross_entropy(model(data), target)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            now = time.perf_counter()
            runner.log_buffer.val_history["time"].append(now - last)
            runner.outputs = {"num_samples": 8, "log_vars": {"loss": 0.0}}
            timing.record(runner)
            runner.iter += 1
            last = now
        else:
            loss = torch.nn.functional.cross_entropy(model(data), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
    elapsed = time.perf_counter() - start
    if with_runtime:
        timing.close(runner)
    return elapsed / steps


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--amp", action="store_true", help="autocast + GradScaler in the 'on' runs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps the timing steady)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    on, off = [], []
    with tempfile.TemporaryDirectory() as work_dir:
        run(5, True, args.amp, work_dir)  # warm both paths
        run(5, False, args.amp, work_dir)
        for index in range(args.rounds):
            pair = [(True, on), (False, off)] if index % 2 == 0 else [(False, off), (True, on)]
            for with_runtime, sink in pair:
                sink.append(run(args.steps, with_runtime, args.amp, work_dir))
    ratio = statistics.median(on) / statistics.median(off)
    print(f"device={runtime.device_type()} steps={args.steps} rounds={args.rounds} amp={args.amp}")
    print(f"off median {statistics.median(off) * 1e3:.3f} ms/step, on median {statistics.median(on) * 1e3:.3f} ms/step")
    print(f"npuport-overhead ratio={ratio:.4f} target<=1.03 {'ok' if ratio <= 1.03 else 'over'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
