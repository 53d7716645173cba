"""gcnet's CPU step time, static tree against dynamic, side by side: `npuport train` runs interleaved (dynamic,
static with each mask-slot setting, dynamic, ...), so the machine's load hits every variant alike. Prints
seconds per iteration after the warm-up of each run, their mean per variant and the ratio to the dynamic tree.
With --together the variants of a round run at the same time instead, one CPU thread each (OMP_NUM_THREADS=1),
so a machine whose load swings from minute to minute slows them alike.

    python benchmarks/gcnet_step_time.py --static WS --dynamic WS --dynamic-recipes DIR [--slots 64 32]
        [--rounds 2] [--iters 8] [--warmup 3] [--img-scale 320,320] [--data DIR] [--root DIR] [--together]

WS are set-up gcnet workspaces: the recipe as shipped, and the recipe without its static steps
(`npuport.recipe.variants.write_dynamic(name, DIR)`, then `npuport setup gcnet --recipes DIR`). --slots sets
`model.train_cfg.rcnn.mask_pos_slots` (rows of the mask head per batch) for one static variant each; without
it the config's value runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def command(ws: str, work: Path, args: argparse.Namespace, extra: list) -> list:
    return [sys.executable, "-m", "npuport", "train", "gcnet", "--workspace", ws, "--device", "cpu",
            "--img-scale", args.img_scale, "--max-iters", str(args.iters), "--warmup-iters", str(args.warmup),
            "--work-dir", str(work), "--data", args.data, *extra]


def seconds(cmd: list, out: subprocess.CompletedProcess, work: Path) -> float:
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-3000:]}")
    res = json.loads((work / "results.json").read_text())
    return res["samples_per_device"] * res["world_size"] / res["fps"]  # s per iteration


def run_round(runs: dict, together: bool) -> dict:
    """{name: (cmd, work)} -> {name: s per iteration}, one after the other or all at once (one thread each)."""
    for cmd, _ in runs.values():
        print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    if not together:
        return {name: seconds(cmd, subprocess.run(cmd, capture_output=True, text=True), work)
                for name, (cmd, work) in runs.items()}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = {name: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for name, (cmd, _) in runs.items()}
    done = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate()
        cmd, work = runs[name]
        done[name] = seconds(cmd, subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), work)
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--static", required=True)
    ap.add_argument("--dynamic", required=True)
    ap.add_argument("--dynamic-recipes", required=True)
    ap.add_argument("--slots", type=int, nargs="*", default=[])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--img-scale", default="320,320")
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--root", default="/tmp/npuport-gcnet-step-time")
    ap.add_argument("--together", action="store_true", help="run a round's variants at once, one thread each")
    args = ap.parse_args()
    root = Path(args.root)
    variants = {"dynamic": (args.dynamic, ["--recipes", args.dynamic_recipes])}
    for slots in args.slots or [None]:
        opts = ["--", "--cfg-options", f"model.train_cfg.rcnn.mask_pos_slots={slots}"] if slots else []
        variants[f"static {slots}" if slots else "static"] = (args.static, opts)
    times = {name: [] for name in variants}
    for r in range(args.rounds):
        runs = {}
        for name, (ws, extra) in variants.items():
            work = root / f"{name.replace(' ', '-')}-{r}"
            runs[name] = (command(ws, work, args, extra), work)
        for name, t in run_round(runs, args.together).items():
            times[name].append(t)
            print(f"round {r} {name}: {t:.2f} s per iteration", flush=True)
    base = sum(times["dynamic"]) / len(times["dynamic"])
    print(f"\ngcnet CPU step time, {args.img_scale}, {args.iters} iterations per run ({args.warmup} warm-up), "
          f"{args.rounds} rounds" + (", the variants of a round at once, one thread each" if args.together
                                            else ", the variants one after the other"))
    print(f"  {'':14}{'s per iteration (runs)':>34}{'mean':>8}{'/ dynamic':>11}")
    for name, ts in times.items():
        mean = sum(ts) / len(ts)
        print(f"  {name:14}{', '.join(f'{t:.2f}' for t in ts):>34}{mean:>8.2f}{mean / base:>11.3f}")


if __name__ == "__main__":
    main()
