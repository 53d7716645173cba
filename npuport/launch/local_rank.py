"""The local rank for code that torchrun, torch.distributed.launch or npuport's wrapper starts."""

from __future__ import annotations

import argparse
import os


def add_local_rank_argument(parser: argparse.ArgumentParser) -> None:
    """`--local_rank N` and `--local-rank N`, one dest `local_rank`, defaulting to LOCAL_RANK (torchrun's)."""
    parser.add_argument("--local_rank", "--local-rank", dest="local_rank", type=int,
                        default=int(os.environ.get("LOCAL_RANK", "0")),
                        help="this process's rank on its node (default: $LOCAL_RANK)")
