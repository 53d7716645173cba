"""What solov2's static loss costs on a CPU against the upstream one: SOLOv2Head.loss forward and backward (to
the head's outputs) on the same batches, the static tree's method and the dynamic tree's, interleaved so the
machine's load hits both alike (min and median of --rounds). The rest of the training step is the same code
in both trees, but the static loss's backward reaches every level's kernel branch (--with-head). Run it with
the static workspace's Python and the dynamic workspace's solov2_head.py (`benchmarks/static_census.py
solov2` sets both up), npuport's checkout on PYTHONPATH:

    STATIC_WS/env/bin/python benchmarks/solov2_loss.py --config CONFIG --overrides OVERRIDES \\
        --data-root DATA --dynamic-head DYNAMIC_WS/current/src/solo/mmdet/models/anchor_heads/solov2_head.py \\
        [--img-scale 256,256] [--batches 4] [--rounds 5] [--with-head] [--cfg-options KEY=VALUE ...]

--with-head times from the FPN's features instead: the head's and the mask-feature head's layers, the loss
and the backward through all of them (where the static loss's graph reaches every level's kernel branch).

The upstream method gets the images' own ground truth (PadGroundTruth's rows dropped), the static one the
padded ground truth it reads in training.
"""

import argparse
import ast
import statistics
import time
import types

import torch


def upstream_loss(path: str, namespace: dict):
    """SOLOv2Head.loss as the dynamic tree's file defines it, compiled in the static module's namespace."""
    tree = ast.parse(open(path).read())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SOLOv2Head")
    fn = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "loss")
    scope = dict(namespace)
    exec(compile(ast.Module(body=[fn], type_ignores=[]), path, "exec"), scope)
    return scope["loss"]


def batches(cfg, count: int):
    from mmdet.datasets import build_dataloader
    from npuport.drivers.mmdet1_train import _build_dataset, to_device

    loader = build_dataloader(_build_dataset(cfg.data.train), 2, 0, 1, dist=False, shuffle=False)
    out = []
    for data in loader:
        out.append(to_device(data, torch.device("cpu")))
        if len(out) == count:
            return out
    return out


def unpadded(data: dict) -> dict:
    real = [labels >= 0 for labels in data["gt_labels"]]
    return dict(data, gt_bboxes=[b[k] for b, k in zip(data["gt_bboxes"], real)],
                gt_labels=[lab[k] for lab, k in zip(data["gt_labels"], real)],
                gt_masks=[m[k.numpy()] for m, k in zip(data["gt_masks"], real)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--overrides")
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--dynamic-head", required=True)
    ap.add_argument("--img-scale", default="256,256")
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cfg-options", nargs="+", default=[])
    ap.add_argument("--with-head", action="store_true", help="time from the FPN features: head layers, loss, backward")
    args = ap.parse_args()
    from mmdet.models import build_detector
    from mmdet.models.anchor_heads import solov2_head
    from npuport.drivers import mmdet_common as common

    cfg = common.load_config(args.config, args.data_root, args.cfg_options, args.overrides)
    common.apply_overrides(cfg, args.img_scale, "none")
    torch.manual_seed(0)
    model = build_detector(cfg.model, train_cfg=cfg.train_cfg, test_cfg=cfg.test_cfg).train()
    head = model.bbox_head
    upstream = upstream_loss(args.dynamic_head, vars(solov2_head))
    losses = {"static": head.loss, "dynamic": types.MethodType(upstream, head)}
    inputs = []
    for data in batches(cfg, args.batches):
        with torch.no_grad():
            x = model.extract_feat(data["img"])
            outs = head(x)
            feat = model.mask_feat_head(x[model.mask_feat_head.start_level:model.mask_feat_head.end_level + 1])
        inputs.append((x, outs, feat, data))
    times = {tree: [] for tree in losses}
    values = {tree: [] for tree in losses}
    for _ in range(args.rounds):
        for tree, loss in losses.items():
            total, sums = 0.0, []
            for x, (cate, kernel), feat, data in inputs:
                gt = data if tree == "static" else unpadded(data)
                start = time.perf_counter()
                if args.with_head:  # the head's and the mask-feature head's layers in the timed part too
                    x = [t.clone().requires_grad_() for t in x]
                    cate, kernel = head(x)
                    feat = model.mask_feat_head(x[model.mask_feat_head.start_level:model.mask_feat_head.end_level + 1])
                    leaves = [*cate, *kernel, feat]
                else:
                    leaves = [t.clone().requires_grad_() for t in (*cate, *kernel, feat)]
                n = len(cate)
                out = loss(leaves[:n], leaves[n:2 * n], leaves[-1], gt["gt_bboxes"], gt["gt_labels"], gt["gt_masks"],
                           data["img_meta"], cfg.train_cfg)
                value = sum(v for v in out.values())
                value.backward()
                total += time.perf_counter() - start
                sums.append(float(value))
            times[tree].append(total / len(inputs))
            values[tree] = sums
    what = "SOLOv2Head layers and loss" if args.with_head else "SOLOv2Head.loss"
    print(f"{what} forward + backward per batch of 2 images, {args.img_scale}, {len(inputs)} batches, "
          f"{args.rounds} interleaved rounds, {torch.get_num_threads()} threads")
    for tree, ts in times.items():
        print(f"  {tree:8} min {min(ts):.3f} s, median {statistics.median(ts):.3f} s; losses "
              + " ".join(f"{v:.6f}" for v in values[tree]))
    print(f"  static / dynamic: min {min(times['static']) / min(times['dynamic']):.3f}, median "
          f"{statistics.median(times['static']) / statistics.median(times['dynamic']):.3f}")


if __name__ == "__main__":
    main()
