"""The rewriters on real training code nobody tuned for: every rewrite `npuport port` makes on the corpus was
checked by hand and is right, and the hand-checked reports and misses are what the rules do today
(benchmarks/rewriter_corpus.py prints the right / wrong / missed table; benchmarks/data/corpus_expectations.json
holds the hand-checked sites). Needs libcst only.

The corpus, at the commits in the expectations file (never committed here; built with
`python benchmarks/rewriter_corpus.py --extract MIRRORS` from bare git mirrors, into NPUPORT_CORPUS or
/work/corpus):
- pytorch/examples, imagenet/: the ImageNet trainer of 2025 (torch.accelerator, mp.spawn + DDP, DataParallel,
  an nccl argparse default, device.type == 'cuda' branches);
- facebookresearch/detr: DETR (device argparse default, all_gather over device='cuda' tensors,
  init_distributed_mode with nccl, a GIoU matcher and loss, optional torchvision);
- CSAILVision/semantic-segmentation-pytorch: an older segmentation repo (2020) with its own DataParallel
  (CUDA-stream scatter through `import torch.cuda as cuda`), a copied torch DataLoader, sync BN, torch._six,
  np.bool, collections.Mapping, YAML configs.
Skipped, with the reason, when the corpus is not there.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("rewriter_corpus", ROOT / "benchmarks" / "rewriter_corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)  # type: ignore[union-attr]

DATA = corpus.load()
MISSING = [repo["name"] for repo in DATA["repos"] if not corpus.present(corpus.DEFAULT_CORPUS, repo)]


def test_expectations_are_well_formed() -> None:
    names = {repo["name"] for repo in DATA["repos"]}
    assert len(names) == 3 and all(len(repo["commit"]) == 40 for repo in DATA["repos"])
    keys = [(s["repo"], s["file"], s["line"], s["rule"]) for s in DATA["sites"]]
    assert len(keys) == len(set(keys))
    for site in DATA["sites"]:
        assert site["repo"] in names and site["kind"] in ("rewrite", "report")
        assert site["expected"] in ("right", "wrong", "missed") and site["note"]


@pytest.mark.skipif(bool(MISSING), reason=f"corpus not in {corpus.DEFAULT_CORPUS} for {', '.join(MISSING)}: "
                                          "run benchmarks/rewriter_corpus.py --extract MIRRORS")
def test_corpus_rewrites_are_what_was_checked_by_hand() -> None:
    results = corpus.evaluate(corpus.DEFAULT_CORPUS, DATA)
    assert corpus.stale(results) == [], [u for _, unchecked in results.values() for u in unchecked]
    for name, (count, _) in results.items():
        assert count["wrong"] == 0, name
        assert count["right"] > 0, name
