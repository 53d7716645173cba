"""What gcnet's mask-head slots cost on a CPU: FCNMaskHead (4 conv3x3 256, deconv, 1x1 logits; the recipe's
config) forward and backward on N RoIs of 256x14x14, N = 2 images x slots, interleaved so the machine's load
hits every N alike (min of --rounds). Run it with a set-up gcnet workspace's Python:

    WS/env/bin/python benchmarks/gcnet_mask_head.py [--slots 128 64 32 15] [--rounds 3]

15 slots per image stands for the dynamic tree (its mask head runs on the positives only: 2-31 per image,
median 12, on the generated data at 320x320).
"""

import argparse
import time

import torch
from mmdet.models.roi_heads.mask_heads import FCNMaskHead


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slots", type=int, nargs="+", default=[128, 64, 32, 15])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    head = FCNMaskHead(num_convs=4, in_channels=256, conv_out_channels=256, num_classes=80)
    times = {n: [] for n in args.slots}
    for _ in range(args.rounds):
        for n in times:
            x = torch.randn(2 * n, 256, 14, 14, requires_grad=True)
            start = time.perf_counter()
            head(x).sum().backward()
            times[n].append(time.perf_counter() - start)
    for n, ts in times.items():
        print(f"{n:>4} slots per image: {min(ts):7.3f} s forward + backward (min of {args.rounds})")


if __name__ == "__main__":
    main()
