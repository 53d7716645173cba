"""Does the FPS that npuport computes from npuport-metrics.jsonl agree with a wall clock outside the run?

A child process trains a small conv net on generated CIFAR-10 data and writes one metrics record per
iteration, as npuport's runtime does. The parent notes, on its own clock, when the child reports the end
of warm-up and the end of training, and computes samples / elapsed time over the same iterations.

    python benchmarks/fps_agreement.py [--iters 30] [--warmup 5] [--batch 64]

Exit 0 when the two figures agree within --tolerance (5%), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "NPUPORT_MARK"


def child(data: Path, work_dir: Path, iters: int, warmup: int, batch: int) -> None:
    """Train, writing `<work_dir>/npuport-metrics.jsonl` and printing marks after warm-up and at the end."""
    import numpy as np
    import torch
    from torch import nn

    from npuport.data.cifar10 import load_cifar10

    torch.manual_seed(0)
    x_train, y_train, x_test, y_test = load_cifar10(data)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x_train))
    metrics = open(work_dir / "npuport-metrics.jsonl", "w")
    last = time.perf_counter()
    for i in range(1, iters + 1):
        start = (i - 1) * batch % len(order)
        idx = np.take(order, np.arange(start, start + batch), mode="wrap")
        x = torch.from_numpy(x_train[idx]).float().div_(255)
        y = torch.from_numpy(y_train[idx])
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_value = loss.item()
        now = time.perf_counter()  # an iteration's time runs from the end of the last one: nothing is lost
        record = {"iter": i, "time": now - last, "samples": len(idx), "world_size": 1, "loss": loss_value}
        last = now
        metrics.write(json.dumps(record) + "\n")
        metrics.flush()
        if i == warmup or i == iters:
            print(MARK, "warm" if i == warmup else "end", flush=True)
    metrics.close()
    with torch.no_grad():
        predicted = model(torch.from_numpy(x_test).float().div_(255)).argmax(1).numpy()
    print(f"test accuracy after {iters} iterations: {(predicted == y_test).mean():.3f} (chance 0.100)", flush=True)


def parent(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from npuport.data.cifar10 import synth_cifar10
    from npuport.results.fps import compute_fps, read_metrics

    with tempfile.TemporaryDirectory(prefix="npuport-fps-") as tmp:
        data, work_dir = Path(tmp) / "cifar", Path(tmp) / "work"
        work_dir.mkdir()
        synth_cifar10(data, train=args.train, test=1000, seed=0)
        command = [sys.executable, str(Path(__file__).resolve()), "--child", str(data), str(work_dir),
                   "--iters", str(args.iters), "--warmup", str(args.warmup), "--batch", str(args.batch)]
        print("$", " ".join(command), file=sys.stderr)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        marks: dict[str, float] = {}
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1, env=env) as proc:
            for line in proc.stdout:
                if line.startswith(MARK):
                    marks[line.split()[1]] = time.perf_counter()  # the parent's own clock
                else:
                    print(line, end="")
        if proc.returncode != 0 or set(marks) != {"warm", "end"}:
            print(f"training failed (exit {proc.returncode}, marks {sorted(marks)})", file=sys.stderr)
            return 1
        result = compute_fps(read_metrics(work_dir / "npuport-metrics.jsonl"), args.warmup)
    samples = (args.iters - args.warmup) * args.batch
    wall = marks["end"] - marks["warm"]
    outside = samples / wall
    ratio = result.fps / outside
    ok = abs(ratio - 1) <= args.tolerance
    print(f"npuport FPS from metrics: {result.fps:10.2f}  ({result.samples_per_device} samples / "
          f"{result.seconds:.4f} s over {result.iters_timed} iterations after {args.warmup} warm-up)")
    print(f"parent wall-clock FPS:    {outside:10.2f}  ({samples} samples / {wall:.4f} s)")
    print(f"ratio: {ratio:.4f}  target 1 +/- {args.tolerance:.0%}: {'ok' if ok else 'FAIL'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("DATA", "WORK_DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--train", type=int, default=5000, help="generated training images")
    parser.add_argument("--tolerance", type=float, default=0.05)
    args = parser.parse_args()
    if not 0 < args.warmup < args.iters:
        parser.error("need 0 < --warmup < --iters")
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.iters, args.warmup, args.batch)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
