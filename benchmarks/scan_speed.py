"""How fast is `npuport scan` on real trees? Compared with parsing the same files once with libcst.

    python benchmarks/scan_speed.py                 # downloads mmcv-full 1.3.8 + mmdet 2.10.0 (sha256 checked)
    python benchmarks/scan_speed.py DIR [DIR ...]   # or scan trees you have
    python benchmarks/scan_speed.py --workers 2

Target: the whole scan of mmcv-full 1.3.8 + mmdet 2.10.0 in <= 15 s on 2 cores.
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

from npuport.commands.scan import python_files, scan  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="trees to scan (default: download the sdists)")
    parser.add_argument("--workers", type=int, default=None, help="process pool size (default: cpu count)")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get(
        "NPUPORT_TEST_CACHE", Path.home() / ".cache" / "npuport-tests")) / "bench")
    args = parser.parse_args()
    trees = args.paths or fetch(args.cache)

    files = [f for tree in trees for f in python_files(tree)]
    started = time.perf_counter()
    reports = [scan(tree, workers=args.workers) for tree in trees]
    scan_s = time.perf_counter() - started

    started = time.perf_counter()
    for file in files:
        cst.parse_module(file.read_text(encoding="utf-8"))
    parse_s = time.perf_counter() - started

    sites = sum(len(r.sites) for r in reports)
    parsed = sum(r.files_parsed for r in reports)
    workers = args.workers or os.cpu_count()
    print(f"trees: {', '.join(str(t) for t in trees)}")
    print(f"files: {len(files)} ({parsed} parsed after the text pre-filter), sites: {sites}, workers: {workers}")
    print(f"scan:  {scan_s:6.2f} s  {len(files) / scan_s:7.1f} files/s")
    print(f"parse: {parse_s:6.2f} s  {len(files) / parse_s:7.1f} files/s  (libcst.parse_module once, 1 process)")
    print(f"scan / parse: {scan_s / parse_s:.2f}")


if __name__ == "__main__":
    main()
