"""Train a GE-Net WideResNet (BayesWatch/pytorch-GENet, installed as `genet` by the recipe) on CIFAR-10.

    python -m npuport.drivers.genet_train --work-dir DIR --data-root DIR [--launcher none|pytorch]
        [--max-iters N | --epochs N] [--amp O1|off] [--amp-dtype auto|float16|bfloat16] [--loss-scale X]
        [--seed S] [--samples-per-device N] [--lr LR] [--depth D] [--width W] [--extent E]
        [--extra-params] [--mlp] [--validate] [--log-interval N]

npuport's replacement for the upstream train.py (CUDA-only, tensorboardX, torchvision at a fixed path);
it keeps that script's recipe: SGD (momentum 0.9, weight decay 5e-4), lr x0.2 at 30/60/80 % of training
(epochs 60/120/160 of 200 upstream), random crop with 4 px zero padding and horizontal flip, the CIFAR-10
mean/std, WRN-16-8 with parameter-free global gather (extent 0, no extra parameters, no MLP).

Each rank takes its shard from a DistributedSampler; batches are cut and augmented with numpy on the host
and normalised on the device. Rank 0 keeps the run contract (npuport.contract): one metrics line per
iteration (its time runs from the end of the previous one) and the run file at the end. --validate measures
top-1 accuracy on the test split, sharded over the ranks and summed.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from npuport import contract, runtime
from npuport.atomic import write_json
from npuport.contract import RUN_FILE
from npuport.drivers.genet_data import MEAN, PAD, STD, Batches, Normalize, augment  # noqa: F401
from npuport.drivers.metrics import Metrics
from npuport.drivers.process import Dist, leave_process_group, run_main, setup_process
from npuport.errors import NpuportError, UsageError
from npuport.runtime import profiling

CHECKPOINT_FILE = "genet-final.pth"
NUM_CLASSES = 10


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m npuport.drivers.genet_train",
                                     description=__doc__.splitlines()[0])
    contract.add_driver_arguments(parser, amp_levels=["O1", "off"], loss_scale=32.0, samples_per_device=128,
                                  data_root_help="folder holding cifar-10-batches-py (or the batches)")
    parser.add_argument("--amp-dtype", choices=["auto", "float16", "bfloat16"], default="auto",
                        help="auto: float16 on npu/cuda, bfloat16 on cpu (float16 backward on cpu is very slow)")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--lr-decay", type=float, default=0.2)
    parser.add_argument("--lr-steps", default="0.3,0.6,0.8", help="fractions of training where lr is decayed")
    parser.add_argument("--depth", type=int, default=16, help="WRN depth, 6n+4")
    parser.add_argument("--width", type=int, default=8, help="WRN widening factor")
    parser.add_argument("--extent", type=int, choices=[0, 2, 4, 8], default=0, help="gather extent (0: global)")
    parser.add_argument("--extra-params", action="store_true", help="learned (depthwise) gather instead of pooling")
    parser.add_argument("--mlp", action="store_true", help="excite through an MLP")
    parser.add_argument("--eval-batch", type=int, default=256)
    parser.add_argument("--log-interval", type=int, default=10)
    args = parser.parse_args(argv)
    check_args(args)
    return args


def check_args(args: argparse.Namespace) -> None:
    for name in ("max_iters", "epochs", "samples_per_device", "eval_batch", "log_interval"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} {value}: give at least 1")
    if args.depth < 10 or (args.depth - 4) % 6:
        raise UsageError(f"--depth {args.depth}: a WideResNet depth is 6n+4 with n >= 1 (10, 16, 22, 28, ...)")
    if args.width < 1:
        raise UsageError(f"--width {args.width}: give at least 1")
    try:
        args.lr_steps = [float(s) for s in args.lr_steps.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--lr-steps {args.lr_steps!r}: give fractions like 0.3,0.6,0.8") from None


def build_model(args: argparse.Namespace) -> Any:
    """The upstream WideResNet with GE blocks, from the `genet` package that `npuport setup genet` installs."""
    try:
        from genet import WideResNet
    except ImportError as exc:
        raise NpuportError(f"cannot import the GE-Net package `genet` ({exc}): run `npuport setup genet` and "
                           "train through its environment (`npuport train genet`)") from None
    return WideResNet(args.depth, args.width, num_classes=NUM_CLASSES, extent=args.extent,
                      extra_params=args.extra_params, mlp=args.mlp)


def lr_at(it: int, base: float, decay: float, milestones: List[int]) -> float:
    return base * decay ** sum(it >= m for m in milestones)


def amp_dtype(args: argparse.Namespace) -> Any:
    import torch

    if args.amp_dtype == "auto":
        return torch.bfloat16 if runtime.device_type() == "cpu" else torch.float16
    return getattr(torch, args.amp_dtype)


def evaluate(model: Any, images: np.ndarray, labels: np.ndarray, norm: Normalize, dist: Dist, batch: int,
             amp: bool, dtype: Any) -> float:
    """Top-1 accuracy (%) on the whole test split: rank r takes images r, r+W, ...; counts are summed."""
    import torch

    if dist.distributed:  # BatchNorm statistics as rank 0 has them (and saves them), on every rank
        import torch.distributed as tdist

        for buffer in model.buffers():
            tdist.broadcast(buffer, 0)
    model.eval()
    mine = np.arange(dist.rank, len(labels), dist.world_size)
    correct = torch.zeros(2, dtype=torch.float32, device=norm.device)  # hccl has no float64; counts < 2**24
    with torch.no_grad():
        for start in range(0, len(mine), batch):
            idx = mine[start:start + batch]
            x, y = norm(images[idx], labels[idx])
            with runtime.autocast(enabled=amp, dtype=dtype):
                pred = model(x).argmax(1)
            correct[0] += (pred == y).sum()
            correct[1] += len(idx)
    if dist.distributed:
        tdist.all_reduce(correct)
    model.train()
    right, total = correct.tolist()
    return 100.0 * right / total


def versions() -> Dict[str, str]:
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__}
    npu = sys.modules.get("torch_npu")
    if npu is not None:
        out["torch_npu"] = getattr(npu, "__version__", "")
    return out


def log(dist: Dist, message: str) -> None:
    if dist.rank == 0:
        print(f"genet_train: {message}", flush=True)


def train(args: argparse.Namespace, model_factory: Callable[[argparse.Namespace], Any] = build_model) -> dict:
    """Train, optionally evaluate, and return (rank 0: also write) the run summary."""
    import torch
    import torch.nn.functional as F

    from npuport.data.cifar10 import load_cifar10

    dist = setup_process(args.launcher)
    try:
        device = runtime.device()
        runtime.manual_seed_all(args.seed)  # the same initial weights on every rank (DDP also broadcasts them)
        x_train, y_train, x_test, y_test = load_cifar10(args.data_root)
        batches = Batches(x_train, y_train, args.samples_per_device, dist, args.seed)
        total = args.max_iters or (args.epochs or 1) * batches.per_epoch
        if args.max_iters:
            milestones = [round(f * total) for f in args.lr_steps]
        else:
            milestones = [round(f * (args.epochs or 1)) * batches.per_epoch for f in args.lr_steps]
        model = model_factory(args).to(device)
        net = model
        if dist.distributed:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model, device_ids=[dist.local_rank] if runtime.is_available() else None)
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                    weight_decay=args.weight_decay)
        amp = args.amp == "O1"
        dtype = amp_dtype(args)
        # A loss scale guards float16 gradients; bfloat16 has float32's range and needs none.
        scaler = runtime.GradScaler(init_scale=args.loss_scale, enabled=amp and dtype == torch.float16)
        norm = Normalize(device)
        warmup = contract.warmup_iters()
        metrics = Metrics(args.work_dir, dist.world_size, dist.rank == 0, warmup)
        log(dist, f"{runtime.device_type()} x{dist.world_size}, WRN-{args.depth}-{args.width} extent {args.extent}"
                  f"{' +params' if args.extra_params else ''}{' +mlp' if args.mlp else ''}, "
                  f"{args.samples_per_device}/device, {total} iterations ({batches.per_epoch}/epoch), "
                  f"amp {'off' if not amp else str(dtype).replace('torch.', '')}")
        if dist.distributed:
            import torch.distributed as tdist

            tdist.barrier()
        profiler = profiling.from_env()  # `npuport profile`: a census of every training step
        if profiler is not None:
            profiler.compile_forward(model)
        it, epoch, started = 0, 0, time.perf_counter()
        last = started
        net.train()
        while it < total:
            for images, labels in batches.epoch(epoch):
                if it >= total:
                    break
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(it, args.lr, args.lr_decay, milestones)
                if profiler is not None:
                    profiler.begin()
                x, y = norm(images, labels)
                with runtime.autocast(enabled=amp, dtype=dtype):
                    out = net(x)
                loss = F.cross_entropy(out.float(), y)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                value = float(loss.item())  # waits for the device: the iteration's time includes its work
                if profiler is not None:
                    profiler.end()
                now = time.perf_counter()
                it += 1
                metrics.record(it, now - last, len(labels), value)
                last = now
                if dist.rank == 0 and (it % args.log_interval == 0 or it == total):
                    fps = metrics.fps()
                    log(dist, f"iter {it}/{total} epoch {epoch} loss {value:.4f} lr {optimizer.param_groups[0]['lr']:g}"
                              + (f" fps {fps:.1f}" if fps else ""))
            epoch += 1
        seconds = time.perf_counter() - started
        metrics.close()
        if profiler is not None:
            profiler.write()
        acc1 = None
        if args.validate:
            acc1 = evaluate(model, x_test, y_test, norm, dist, args.eval_batch, amp, dtype)
            log(dist, f"Acc@1 {acc1:.2f} on {len(y_test)} test images")
        summary = {
            "iters": it,
            "epochs": it / batches.per_epoch,
            "loss_first": metrics.losses[0] if metrics.losses else None,
            "loss_last": metrics.losses[-1] if metrics.losses else None,
            "acc1": acc1,
            "fps": metrics.fps(),
            "seconds": seconds,
            "world_size": dist.world_size,
            "samples_per_device": args.samples_per_device,
            "device": runtime.device_type(),
            "amp": "off" if not amp else str(dtype).replace("torch.", ""),
            "model": {"depth": args.depth, "width": args.width, "extent": args.extent,
                      "extra_params": args.extra_params, "mlp": args.mlp},
            "versions": versions(),
        }
        if dist.rank == 0:
            if args.epochs and not args.no_checkpoint:
                torch.save(model.state_dict(), os.path.join(args.work_dir, CHECKPOINT_FILE))
            write_json(os.path.join(args.work_dir, RUN_FILE), summary, sort_keys=False)
            log(dist, f"wrote {os.path.join(args.work_dir, RUN_FILE)}")
        if dist.distributed:
            leave_process_group()  # every rank got here: leave together
        return summary
    finally:
        if dist.distributed:
            import torch.distributed as tdist

            if tdist.is_initialized():  # an error on the way: leave alone, waiting for no one
                tdist.destroy_process_group()


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(lambda: train(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
