"""Same maths: a recipe's static tree and its dynamic tree (without the `static-*` steps), trained side by side.

Both trees are set up from the same pins (npuport.recipe.variants.write_dynamic for the dynamic one), trained
ITERS iterations with the same seed, generated data and image size (`npuport train --save-checkpoint`), and
their final checkpoints scored on the generated validation split (`npuport eval`: bbox mAP, segm mAP for the
instance-segmentation recipes, with the _50 / _75 figures). Prints the loss of every iteration side by side
with the difference, then both trees' mAP (goal: the curves agree within noise and the static tree's mAP is
not worse).

    python benchmarks/static_parity.py [gfocalv2|solov2|...] [--root DIR] [--iters 50] [--img-scale 320,320]
        [--lr-warmup-iters 10] [--lr LR] [--workers N] [--score-thr 0] [--images 16] [--image-size 320] [--eval-on-train]
        [--cfg-options KEY=VALUE ...] [--mirror FROM=TO]

The recipes' own schedules warm the learning rate up over 500 iterations, so 50 would barely move the
model: --lr-warmup-iters shortens the warm-up for both trees (0: none; -1: the recipe's). A barely trained
model may find nothing on unseen images (mAP 0 in both trees, which says nothing): --images N generates N
training images, --eval-on-train scores the trees on them (as the learning tests do), and --cfg-options
(passed to training and evaluation) shrinks the model, e.g. solov2's learning-test model. The workspaces
and runs stay in --root (default /tmp/npuport-static-parity), so a rerun skips the setups.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

from static_census import npuport  # the same runner (this folder is on sys.path when run as a script)


def losses(work: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (work / "npuport-metrics.jsonl").read_text().splitlines()]


def last_checkpoint(work: Path, iters: int) -> Path:
    """The final checkpoint: iter_N.pth of an iteration-based runner, the last epoch_N.pth of mmcv 0.2's."""
    if (work / f"iter_{iters}.pth").is_file():
        return work / f"iter_{iters}.pth"
    epochs = sorted(work.glob("epoch_*.pth"), key=lambda p: int(re.sub(r"\D", "", p.stem)))
    if not epochs:
        raise SystemExit(f"{work}: no iter_{iters}.pth or epoch_*.pth checkpoint")
    return epochs[-1]


def make_data(root: Path, images: int, size: int, eval_on_train: bool) -> Path:
    from npuport.data.coco import synth_coco, train_split_as_val

    data = root / ("data-train-as-val" if eval_on_train else "data") / f"{images}x{size}"
    if not data.exists():
        src = data.with_name(f"{images}x{size}-src")
        synth_coco(src if eval_on_train else data, images=images, size=size)
        if eval_on_train:
            train_split_as_val(src, data)
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe", nargs="?", default="gfocalv2")
    ap.add_argument("--root", default="/tmp/npuport-static-parity")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--img-scale", default="320,320")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr-warmup-iters", type=int, default=10)
    ap.add_argument("--workers", help="data loader workers per process (both trees; 0: load in the training process, "
                                      "as the learning tests do)")
    ap.add_argument("--lr", help="the learning rate instead of the config's (both trees)")
    ap.add_argument("--score-thr", default="0")
    ap.add_argument("--images", type=int, default=16, help="generated training images (as `npuport train`'s)")
    ap.add_argument("--image-size", type=int, default=320, help="their size before the resize to --img-scale")
    ap.add_argument("--eval-on-train", action="store_true", help="score on the training images")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE", help="for training and evaluation")
    ap.add_argument("--mirror", action="append", default=[], help="passed to setup (git-only upstreams)")
    args = ap.parse_args()
    from npuport.recipe.variants import write_dynamic

    root, name = Path(args.root), args.recipe
    trees = {"static": [], "dynamic": ["--recipes", str(write_dynamic(name, root / "recipes"))]}
    mirrors = [a for m in args.mirror for a in ("--mirror", m)]
    options = ["--cfg-options", *args.cfg_options] if args.cfg_options else []
    driver = (["--lr-warmup-iters", str(args.lr_warmup_iters)] if args.lr_warmup_iters >= 0 else []) + (
        ["--lr", args.lr] if args.lr else []) + (["--workers", args.workers] if args.workers else []) + options
    data = make_data(root, args.images, args.image_size, args.eval_on_train)
    curves, maps = {}, {}
    for tree, extra in trees.items():
        ws, work = root / tree / "ws", root / tree / "train"
        shutil.rmtree(work, ignore_errors=True)  # an earlier run's later checkpoints would be scored instead
        npuport("setup", name, "--workspace", str(ws), *extra, *mirrors)
        npuport("train", name, "--workspace", str(ws), "--device", "cpu", "--max-iters", str(args.iters),
                "--img-scale", args.img_scale, "--seed", str(args.seed), "--work-dir", str(work), "--save-checkpoint",
                "--data", str(data), *extra, *(["--", *driver] if driver else []))
        curves[tree] = losses(work)
        out = npuport("eval", name, "--checkpoint", str(last_checkpoint(work, args.iters)), "--data", str(data),
                      "--workspace", str(ws), "--device", "cpu", "--img-scale", args.img_scale,
                      "--score-thr", args.score_thr, "--json", *extra, *(["--", *options] if options else []))
        maps[tree] = {k: v for k, v in json.loads(out.stdout).items() if "_mAP" in k}  # and _mAP_50, _75

    static, dynamic = curves["static"], curves["dynamic"]
    warmup = {-1: "as the recipe", 0: "none"}.get(args.lr_warmup_iters, args.lr_warmup_iters)
    print(f"\n{name}: loss per iteration, {args.iters} iterations, seed {args.seed}, {args.img_scale}, CPU "
          f"(lr warm-up {warmup}{', lr ' + args.lr if args.lr else ''}"
          f"{', ' + args.workers + ' loader workers' if args.workers else ''}; {args.images} generated images"
          f"{', scored on them' if args.eval_on_train else ''}{'; ' + ' '.join(args.cfg_options) if options else ''})")
    print(f"  {'iter':>5}{'static':>12}{'dynamic':>12}{'static-dyn':>12}")
    for i, (a, b) in enumerate(zip(static, dynamic), 1):
        print(f"  {i:>5}{a:>12.5f}{b:>12.5f}{a - b:>12.2e}")
    diffs = [abs(a - b) for a, b in zip(static, dynamic)]
    rel = max(d / abs(b) for d, b in zip(diffs, dynamic) if b)
    first = next((i for i, d in enumerate(diffs, 1) if d > 1e-4), None)
    tail = max(1, len(static) // 5)
    print(f"  max |diff| {max(diffs):.3e} (relative {rel:.2e}); first iteration off by > 1e-4: {first or 'none'}; "
          f"mean of the last {tail}: static {sum(static[-tail:]) / tail:.4f}, dynamic {sum(dynamic[-tail:]) / tail:.4f}")
    split = "training images" if args.eval_on_train else "generated val split"
    for key in sorted(set(maps["static"]) | set(maps["dynamic"])):
        s, d = maps["static"].get(key, float("nan")), maps["dynamic"].get(key, float("nan"))
        print(f"  {key} ({split}, score_thr {args.score_thr}): static {s:.4f}, dynamic {d:.4f}")


if __name__ == "__main__":
    main()
