"""Setup speed of gcnet, measured side by side on this machine.

Prints three figures and two ratios:
  cold   `npuport setup gcnet` with an empty npuport cache, a new workspace and pip's cache off;
  warm   the same command again (same inputs: nothing to fetch, patch or build);
  full   the full mmcv-full 1.3.8 ops build (`pip wheel` of the sdist with MMCV_WITH_OPS=1, after the one known
         source fix for torch 2.x, in a venv with setuptools<70), i.e. what a port that compiles every op pays;
         the archive download and the venv are not counted.
Targets: cold / full <= 0.35, warm < 10 s.

    python benchmarks/setup_speed.py [--skip-full SECONDS]   # reuse a full-build time measured earlier
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

MMCV_URL = ("https://files.pythonhosted.org/packages/64/fa/b9fc21e63571d16620f28f6937626d5f8866ecd45a781f5d6c3fe2a9158f/"
            "mmcv-full-1.3.8.tar.gz")


def timed(argv: list[str], env: dict, cwd: str | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
    return took


def full_build(tmp: Path) -> float:
    archive = tmp / "mmcv-full-1.3.8.tar.gz"
    urllib.request.urlretrieve(MMCV_URL, archive)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp)
    src = tmp / "mmcv-full-1.3.8"
    cpp = src / "mmcv" / "ops" / "csrc" / "pytorch" / "nms_rotated_cpu.cpp"
    cpp.write_text(cpp.read_text().replace("AT_DISPATCH_FLOATING_TYPES(dets.type()", "AT_DISPATCH_FLOATING_TYPES(dets.scalar_type()"))
    # mmcv-full's setup.py needs pkg_resources (setuptools < 70) and pytest-runner; torch comes from this Python.
    venv = tmp / "buildenv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "-q", "setuptools<70", "wheel", "pytest-runner", "ninja"], check=True)
    env = {**os.environ, "MMCV_WITH_OPS": "1", "FORCE_CUDA": "0", "MAX_JOBS": str(os.cpu_count() or 2)}
    return timed([py, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "wheel"), str(src)], env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-full", type=float, metavar="SECONDS", help="use this full-build time instead of building")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="npuport-bench-"))
    try:
        env = {**os.environ, "NPUPORT_CACHE": str(tmp / "cache"), "PIP_NO_CACHE_DIR": "1"}
        setup = [sys.executable, "-m", "npuport", "setup", "gcnet", "--workspace", str(tmp / "ws")]
        cold = timed(setup, env)
        warm = timed(setup, env)
        full = args.skip_full if args.skip_full else full_build(tmp)
        print(f"cold npuport setup gcnet : {cold:8.1f} s")
        print(f"warm npuport setup gcnet : {warm:8.1f} s   (target < 10 s)")
        print(f"full mmcv-full ops build : {full:8.1f} s{'   (given)' if args.skip_full else ''}")
        print(f"cold / full              : {cold / full:8.3f}   (target <= 0.35)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
