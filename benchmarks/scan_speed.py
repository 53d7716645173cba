"""How fast is `npuport scan` on real trees? Its CPU time beside one plain libcst parse of the same files.

    python benchmarks/scan_speed.py                 # downloads mmcv-full 1.3.8 + mmdet 2.10.0 (sha256 checked)
    python benchmarks/scan_speed.py DIR [DIR ...]   # or scan trees you have
    python benchmarks/scan_speed.py --rounds 3      # best of 3 for each figure
    python benchmarks/scan_speed.py --separate      # also each rule walking on its own (the old check mode)
    python benchmarks/scan_speed.py --interleaved   # file by file: scan it, then parse it, and sum each

Both figures are CPU seconds of this one process (time.process_time; scan with workers=1), so a busy machine
changes them less than wall time. On a shared machine whose load swings within seconds, --interleaved times
both file by file, one right after the other, so that a swing weighs on scan and parse alike; it reports the
median ratio of the rounds. Goal (issue 11): scan <= 1.0x parse, one shared visitor pass and pre-filters.
Measured on a shared 2-core machine: scan / parse 3.35 before the shared pass, 0.99 with it; with 28 rules and
610 sites, --interleaved: 1.11 before the issue-11 speed work, 0.87-0.90 after (docs/rewriters.md).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import libcst as cst  # noqa: E402

from npuport.commands.scan import _scan_one, python_files, scan  # noqa: E402
from npuport.rewriters import check, resolve  # noqa: E402

SDISTS = [
    ("https://files.pythonhosted.org/packages/64/fa/b9fc21e63571d16620f28f6937626d5f8866ecd45a781f5d6c3fe2a9158f/"
     "mmcv-full-1.3.8.tar.gz", "2b8dd40697a11b7061b5f54131999ac1cda4c4b02dfc60d7fc2c9a3fa484782e"),
    ("https://files.pythonhosted.org/packages/43/fb/4315a1e4afdafb0f71b245a56a04404f4bef3be7d56743c97bc7cb98d641/"
     "mmdet-2.10.0.tar.gz", "5d913b86799fe93b6ceb481802466fb85d2cab676fa92607d06e97b05bc4b25a"),
]


def fetch(cache: Path) -> list[Path]:
    """Download (once, sha256 checked) and extract the two sdists under cache; return the trees."""
    cache.mkdir(parents=True, exist_ok=True)
    trees = []
    for url, sha256 in SDISTS:
        archive = cache / url.rsplit("/", 1)[1]
        if not archive.exists() or hashlib.sha256(archive.read_bytes()).hexdigest() != sha256:
            staged = archive.with_suffix(".part")
            with urllib.request.urlopen(url, timeout=60) as response, open(staged, "wb") as out:
                shutil.copyfileobj(response, out)
            digest = hashlib.sha256(staged.read_bytes()).hexdigest()
            if digest != sha256:
                staged.unlink()
                sys.exit(f"{url}: sha256 {digest}, expected {sha256}")
            os.replace(staged, archive)
        tree = cache / archive.name[:-len(".tar.gz")]
        if not tree.exists():
            with tarfile.open(archive) as tar:
                tar.extractall(cache, filter="data")
        trees.append(tree)
    return trees


def _cpu(function) -> float:
    started = time.process_time()
    function()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="trees to scan (default: download the sdists)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat each measure N times, keep the best")
    parser.add_argument("--separate", action="store_true", help="also time every rule walking on its own")
    parser.add_argument("--interleaved", action="store_true", help="time scan and parse file by file, alternately")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get(
        "NPUPORT_TEST_CACHE", Path.home() / ".cache" / "npuport-tests")) / "bench")
    args = parser.parse_args()
    if args.rounds < 1:
        sys.exit(f"--rounds {args.rounds}: give 1 or more")
    trees = args.paths or fetch(args.cache)
    files = [f for tree in trees for f in python_files(tree)]
    sources = [(str(f), f.read_text(encoding="utf-8")) for f in files]
    ids = resolve(None)
    reports = []

    def run_scan() -> None:
        reports[:] = [scan(tree, workers=1) for tree in trees]

    def run_parse() -> None:
        for _, source in sources:
            cst.parse_module(source)

    def run_separate() -> None:
        for name, source in sources:
            check(source, ids, name, shared=False)

    if args.interleaved:
        interleaved(trees, ids, args.rounds)
        return
    measures = [("scan", run_scan), ("parse", run_parse)] + ([("separate", run_separate)] if args.separate else [])
    best = {name: min(_cpu(function) for _ in range(args.rounds)) for name, function in measures}
    sites = sum(len(r.sites) for r in reports)
    parsed = sum(r.files_parsed for r in reports)
    print(f"trees: {', '.join(str(t) for t in trees)}")
    print(f"files: {len(files)} ({parsed} parsed after the text pre-filter), sites: {sites}, rules: {len(ids)}, "
          f"best of {args.rounds}")
    print(f"{'':10}{'CPU s':>8}{'files/s':>10}{'/ parse':>9}")
    for name, seconds in best.items():
        print(f"{name:10}{seconds:8.2f}{len(files) / seconds:10.1f}{seconds / best['parse']:9.2f}")
    print(f"scan / parse: {best['scan'] / best['parse']:.2f}  (scan: pre-filter, one parse, one shared pass; "
          "parse: libcst.parse_module of every file)")


def interleaved(trees: list[Path], ids: list[str], rounds: int) -> None:
    """Per round: for every file scan does (.py and configs), the CPU time of scanning it, then of one plain
    parse of it (.py files); the sums and their ratio, and the median ratio over the rounds."""
    files = [str(f) for tree in trees for f in python_files(tree, configs=True)]
    sources = {name: Path(name).read_text(encoding="utf-8") for name in files if name.endswith(".py")}
    ratios = []
    for round_ in range(rounds):
        scanned = parsed = 0.0
        sites = 0
        for name in files:
            started = time.process_time()
            rows, _, _ = _scan_one((name, ids))
            middle = time.process_time()
            if name in sources:
                cst.parse_module(sources[name])
            scanned, parsed = scanned + middle - started, parsed + time.process_time() - middle
            sites += len(rows)
        ratios.append(scanned / parsed)
        print(f"round {round_ + 1}: scan {scanned:.2f} s, parse {parsed:.2f} s, scan / parse {ratios[-1]:.2f} "
              f"({len(files)} files, {sites} sites, load {os.getloadavg()[0]:.1f})")
    print(f"median scan / parse: {sorted(ratios)[len(ratios) // 2]:.2f} over {rounds} rounds, file by file")


if __name__ == "__main__":
    main()
