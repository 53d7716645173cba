"""Does the FPS that `npuport train gcnet` reports agree with samples / wall time measured outside it?

Runs `npuport train gcnet` (one process, CPU) and, from this process, watches WORK_DIR/npuport-metrics.jsonl:
the moment each iteration's line appears is timestamped here. Over the iterations after warm-up,
outside FPS = samples per device x world size x iterations / (time the last line appeared - time the last
warm-up line appeared). Prints both figures and their ratio (target: within 5%).

    python benchmarks/gcnet_fps_agreement.py --workspace ws/gcnet [--iters 20] [--img-scale 256,256]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def watch(path: Path, seen: list[float], stop: threading.Event) -> None:
    offset, buf = 0, ""
    while not stop.is_set():
        if path.exists():
            with open(path) as f:
                f.seek(offset)
                chunk = f.read()
                offset = f.tell()
            buf += chunk
            while "\n" in buf:
                _line, buf = buf.split("\n", 1)
                seen.append(time.perf_counter())
        time.sleep(0.01)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--img-scale", default="256,256")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="npuport-fps-"))
    seen: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(work / "npuport-metrics.jsonl", seen, stop), daemon=True)
    watcher.start()
    cmd = [sys.executable, "-m", "npuport", "train", "gcnet", "--workspace", args.workspace, "--device", "cpu",
           "--data", "synthetic", "--max-iters", str(args.iters), "--img-scale", args.img_scale, "--work-dir", str(work)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    time.sleep(0.2)
    stop.set()
    watcher.join()
    res = json.loads((work / "results.json").read_text())
    warm = res["warmup_iters"]
    timed = len(seen) - warm
    outside = res["samples_per_device"] * res["world_size"] * timed / (seen[-1] - seen[warm - 1])
    print(f"iterations timed      : {timed} (after {warm} warm-up)")
    print(f"npuport fps           : {res['fps']:.4f}")
    print(f"outside fps           : {outside:.4f}")
    print(f"ratio npuport/outside : {res['fps'] / outside:.4f}   (target 0.95 .. 1.05)")


if __name__ == "__main__":
    main()
