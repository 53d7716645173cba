"""What gcnet's RoI extractor costs on a CPU: SingleRoIExtractor (RoIAlign 7x7, sampling_ratio 0, FPN strides
4-32; the recipe's bbox_roi_extractor) forward and backward on 2 images x 512 RoIs of an HxW image, the sizes
spread over the FPN levels. Run it with each tree's Python, interleaved, and compare (the static tree's
`static-roi-extractor` pools every RoI on every level):

    WS/env/bin/python benchmarks/gcnet_roi_extractor.py [--img 320] [--rounds 3]
"""

import argparse
import time

import torch
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--img", type=int, default=320)
    ap.add_argument("--rois", type=int, default=512, help="RoIs per image")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    ext = SingleRoIExtractor(roi_layer=dict(type="RoIAlign", output_size=7, sampling_ratio=0),
                             out_channels=256, featmap_strides=[4, 8, 16, 32])
    feats = [torch.randn(2, 256, args.img // s, args.img // s, requires_grad=True) for s in (4, 8, 16, 32)]
    n = 2 * args.rois
    xy = torch.rand(n, 2) * args.img * 0.7
    wh = torch.rand(n, 2) * args.img * 0.3 + 4
    rois = torch.cat([torch.arange(n)[:, None].float() % 2, xy, (xy + wh).clamp(max=args.img - 1)], dim=1)
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        ext(feats, rois).sum().backward()
        times.append(time.perf_counter() - start)
    print(f"{n} RoIs, {args.img}x{args.img}: {sorted(times)[len(times) // 2]:.3f} s forward + backward "
          f"(median of {args.rounds}: {' '.join(f'{t:.3f}' for t in times)})")


if __name__ == "__main__":
    main()
