"""Run a launch on this node: wait for the master first (non-zero node ranks), then run and follow it.

Per-rank logs go to WORK_DIR/logs (torchrun's --log-dir), the launcher's own output to
WORK_DIR/logs/launcher.log, and a progress bar is fed from the metrics file while it runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..contract import END_DIR_ENV
from ..errors import CheckFailed
from . import ending
from .ending import EndWatch, exit_grace
from .plan import Launch, Topology
from .rendezvous import is_local, wait_for


def wait_for_master(topo: Topology, log=None) -> None:
    """Non-zero node ranks (and elastic nodes away from the endpoint) wait for the master, up to the timeout."""
    if topo.elastic:
        host, port = topo.rdzv_host_port
        if is_local(host):
            return
        who = "this node"
    elif topo.nnodes > 1 and topo.node_rank > 0:
        host, port, who = topo.master_addr, topo.master_port, f"node {topo.node_rank}"
    else:
        return
    if log:
        log(f"npuport: waiting up to {topo.connect_timeout:g} s for the master at {host}:{port}")
    wait_for(host, port, topo.connect_timeout, who)


def with_rank_logs(argv: list[str], logs: Path) -> list[str]:
    """torchrun writes each rank's stdout/stderr under `logs`."""
    argv = list(argv)
    if "torch.distributed.run" in argv:
        at = argv.index("torch.distributed.run") + 1
        argv[at:at] = [f"--log-dir={logs}", "--redirects=3"]
    return argv


def run_and_follow(launch: Launch, work_dir: Path, total_iters: int | None, progress: bool = True,
                   connect_timeout: float | None = None, local_ranks: int = 1, log=None, nnodes: int = 1) -> None:
    """Run the launch; raise CheckFailed with the last error line of the logs when it fails. A torchrun that does
    not exit after its ranks ended (launch.ending) is stopped, with a warning, and the run counts as done."""
    from ..contract import METRICS_FILE
    from ..results.progress import follow

    logs = work_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    argv = with_rank_logs(launch.argv, logs)
    torchrun = "torch.distributed.run" in argv
    grace = exit_grace(nnodes) if torchrun else 0.0
    end_dir = Path(tempfile.mkdtemp(prefix="npuport-end-")) if torchrun else None
    env = {**os.environ, **launch.sourced, **launch.env, **({END_DIR_ENV: str(end_dir)} if end_dir else {})}
    stop = threading.Event()
    bar = None
    if progress:
        bar = threading.Thread(target=follow, args=(work_dir / METRICS_FILE, total_iters or 0, stop), daemon=True)
        bar.start()
    overdue = ""
    try:
        with open(logs / "launcher.log", "w") as out:
            proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
            overdue = wait_for_end(proc, EndWatch(end_dir, local_ranks, grace) if end_dir else None)
    finally:
        stop.set()
        if bar is not None:
            bar.join(timeout=5)
        if end_dir is not None:
            shutil.rmtree(end_dir, ignore_errors=True)
    if overdue:
        (log or _stderr)(f"npuport: warning: {overdue}; stopped it and its ranks (the training had ended, "
                         f"so the results stand); logs in {logs}")
    elif proc.returncode != 0:
        raise CheckFailed(f"training failed (exit {proc.returncode}): {explain(last_error(work_dir), connect_timeout)}; logs in {logs}")


def wait_for_end(proc: subprocess.Popen, watch: EndWatch | None, interval: float = 0.5) -> str:
    """Wait for the launch to exit; '' then, else why it was overdue (it was stopped). Stopped on any error too."""
    try:
        while True:
            try:
                proc.wait(timeout=interval)
                return ""
            except subprocess.TimeoutExpired:
                pass
            why = watch.overdue(time.monotonic()) if watch is not None else ""
            if why:
                ending.stop(proc)
                return why
    except BaseException:  # Ctrl-C included: no torchrun or rank is left behind
        ending.stop(proc, wait=2.0)
        raise


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def explain(error: str, connect_timeout: float | None = None) -> str:
    """torchrun's rendezvous errors in the words of the options that fix them."""
    m = re.search(r"Timed out after (\d+) seconds waiting for clients\. (\d+)/(\d+) clients joined", error)
    if m:
        waited = f"{connect_timeout:g}" if connect_timeout else m.group(1)
        return (f"node 0 waited {waited} s for the other nodes ({m.group(2)}/{m.group(3)} joined): start every node "
                "within --connect-timeout of each other, with the same --nnodes, --master-addr and --master-port")
    return error


def last_error(work_dir: Path) -> str:
    """The last line that looks like an error in the rank, launcher and Slurm logs, for the one-line message."""
    best = ""
    files = sorted((work_dir / "logs").rglob("*.log")) + sorted(work_dir.glob("slurm-*.out"))
    for f in files:
        for line in f.read_text(errors="replace").splitlines():
            if "npuport: error:" in line:
                return line.split("npuport: error:", 1)[1].strip()[:400]
            if "Error" in line or "error:" in line:
                best = line.strip()
    return best[:300] or "no error line in the logs"
