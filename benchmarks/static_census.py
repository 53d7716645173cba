"""What the static steps buy: the step census of each recipe before and after them, side by side in one run.

For each recipe, two workspaces are set up from the same pins: the recipe as shipped (static) and the same
recipe without its `static-*` steps (dynamic, npuport.recipe.variants). Both are profiled with the same
seed, data and image size (`npuport profile`: data-dependent ops, host syncs, int64 arithmetic and new
(op, shape, dtype) signatures per iteration after warm-up), and their CPU step times are measured with
`npuport train` runs interleaved (dynamic, static, dynamic, static, ...), so load on the machine hits both,
in wall seconds and in the process's CPU seconds (which move less with the load of a shared machine).
Prints one table per recipe with the ratios (goals: 0 new signatures, 0 data-dependent ops, <= 5 syncs,
int64 cut by >= 90 %, step time static / dynamic <= 1.1).

    python benchmarks/static_census.py [gcnet ...] [--root DIR] [--iters 8] [--warmup 3] [--img-scale 320,320]
        [--rounds 2] [--mirror FROM=TO]

The workspaces stay in --root (default /tmp/npuport-static-census) so a rerun skips the setups.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

KEYS = ("ops", "dynamic", "syncs", "int64", "new_signatures")


def mean(values: list) -> float:
    return sum(values) / len(values) if values else float("nan")


def npuport(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "npuport", *args]
    print("+ " + " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipes", nargs="*", default=["gcnet"])
    ap.add_argument("--root", default="/tmp/npuport-static-census")
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--img-scale", default="320,320")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved train runs per tree for the step time")
    ap.add_argument("--train-iters", type=int, default=12)
    ap.add_argument("--mirror", action="append", default=[], help="passed to setup (git-only upstreams)")
    args = ap.parse_args()
    root = Path(args.root)
    from npuport.recipe.variants import write_dynamic

    variants = root / "recipes"
    for name in args.recipes:
        write_dynamic(name, variants)
    for name in args.recipes:
        mirrors = [a for m in args.mirror for a in ("--mirror", m)]
        trees = {"dynamic": ["--recipes", str(variants)], "static": []}
        census, times, cpu = {}, {"dynamic": [], "static": []}, {"dynamic": [], "static": []}
        for tree, extra in trees.items():
            ws = root / name / tree / "ws"
            npuport("setup", name, "--workspace", str(ws), *extra, *mirrors)
            out = npuport("profile", name, "--workspace", str(ws), "--device", "cpu", "--iters", str(args.iters),
                          "--warmup", str(args.warmup), "--img-scale", args.img_scale,
                          "--work-dir", str(root / name / tree / "profile"), "--json", *extra)
            census[tree] = json.loads(out.stdout)["measured"]
        for r in range(args.rounds):
            for tree, extra in trees.items():
                work = root / name / tree / f"train{r}"
                npuport("train", name, "--workspace", str(root / name / tree / "ws"), "--device", "cpu",
                        "--max-iters", str(args.train_iters), "--img-scale", args.img_scale, "--work-dir", str(work),
                        "--data", str(root / name / tree / "profile" / "data"), *extra)
                res = json.loads((work / "results.json").read_text())
                times[tree].append(res["samples_per_device"] * res["world_size"] / res["fps"])  # s per iteration
                rows = [json.loads(line) for line in (work / "npuport-metrics.jsonl").read_text().splitlines()]
                cpu[tree].append(mean([row.get("cpu", float("nan")) for row in rows[res["warmup_iters"]:]]))
        print(f"\n{name}: per training iteration after {args.warmup} warm-up iterations ({args.iters} profiled, "
              f"{args.img_scale}, CPU)")
        print(f"  {'':16}{'dynamic':>12}{'static':>12}{'static/dyn':>12}")
        for key in KEYS:
            before, after = census["dynamic"][key], census["static"][key]
            ratio = f"{after / before:.3f}" if before else "-"
            print(f"  {key:16}{before:>12}{after:>12}{ratio:>12}")
        for label, got in (("step time (s)", times), ("step CPU (s)", cpu)):
            dyn, sta = mean(got["dynamic"]), mean(got["static"])
            print(f"  {label:16}{dyn:>12.3f}{sta:>12.3f}{sta / dyn:>12.3f}   (mean of {args.rounds} "
                  f"interleaved train runs of {args.train_iters} iterations; goal <= 1.1)")


if __name__ == "__main__":
    main()
