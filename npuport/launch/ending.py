"""The end of a torchrun launch: torchrun must exit once the ranks have ended, and is stopped when it does not.

Each rank marks in END_DIR (npuport.contract.END_DIR_ENV, a fresh folder per launch) how far its end got:
rank<R>.barrier once past the final barrier (every rank has then finished its work), rank<R>.left once its
process group is destroyed and it has waited for the others (drivers.process.leave_process_group). After that
only the process exits are left. When torchrun has not exited EXIT_GRACE seconds after every rank of this node
left, or LEAVE_TIMEOUT + EXIT_GRACE seconds after the first rank passed the barrier, it is overdue: a rank hangs in
its teardown or at interpreter exit, or torchrun's agent does. The launcher then stops torchrun and its ranks; the
training itself had ended, so the results stand.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..contract import LEAVE_TIMEOUT
from ..errors import UsageError

EXIT_GRACE_ENV = "NPUPORT_EXIT_GRACE"
EXIT_GRACE = 60.0  # seconds torchrun has to exit after every rank of the node left
EXIT_BARRIER = 300.0  # torchrun's agents wait this long for each other's at exit (several nodes)
STOP_WAIT = 10.0  # seconds between SIGTERM and SIGKILL when stopping torchrun and its ranks


def exit_grace(nnodes: int = 1) -> float:
    """NPUPORT_EXIT_GRACE seconds, else EXIT_GRACE, plus torchrun's exit barrier when several nodes take part
    (a node's agent then legitimately waits for the other nodes' agents after its own ranks left)."""
    value = os.environ.get(EXIT_GRACE_ENV, "").strip()
    try:
        grace = float(value) if value else EXIT_GRACE + (EXIT_BARRIER if nnodes > 1 else 0.0)
    except ValueError:
        grace = -1.0
    if not grace >= 0:
        raise UsageError(f"{EXIT_GRACE_ENV}={value}: give the seconds torchrun may take to exit after its ranks "
                         f"ended, e.g. {EXIT_GRACE:g}")
    return grace


@dataclass
class EndWatch:
    """Reads the ranks' end marks of one launch and says when torchrun is overdue."""

    folder: Path
    local_ranks: int  # ranks torchrun runs on this node
    grace: float = EXIT_GRACE
    first_barrier: float | None = None  # when the first rank was seen past the final barrier
    all_left: float | None = None  # when every rank of the node was seen to have left

    def marked(self, stage: str) -> list[str]:
        try:
            names = os.listdir(self.folder)
        except OSError:
            return []
        ranks = [n[len("rank"):-len(stage) - 1] for n in names if n.startswith("rank") and n.endswith("." + stage)]
        return sorted(ranks, key=lambda r: (len(r), r))  # 2 before 10

    def overdue(self, now: float) -> str:
        """'' while torchrun may still be ending normally; else, in words, what did not end."""
        passed, left = self.marked("barrier"), self.marked("left")
        if passed and self.first_barrier is None:
            self.first_barrier = now
        if len(left) >= self.local_ranks and self.all_left is None:
            self.all_left = now
        if self.all_left is not None and now - self.all_left > self.grace:
            return (f"every rank of this node ({', '.join(left)}) left its process group, but torchrun did not exit "
                    f"within {self.grace:g} s")
        if self.first_barrier is not None and now - self.first_barrier > LEAVE_TIMEOUT + self.grace:
            stuck = [r for r in passed if r not in left]
            unmarked = self.local_ranks - len(set(passed) | set(left))
            what = [f"rank {', '.join(stuck)} did not leave its process group"] if stuck else []
            what += [f"{unmarked} rank(s) of this node did not get past the final barrier"] if unmarked > 0 else []
            return (f"every rank had finished its work (rank {passed[0]} passed the final barrier), but "
                    f"{' and '.join(what) or 'torchrun did not exit'} within {LEAVE_TIMEOUT + self.grace:g} s")
        return ""


def descendants(pid: int) -> list[int]:
    """The processes under `pid` (children first), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo += children.get(p, [])
    return out


def stop(proc: subprocess.Popen, wait: float = STOP_WAIT) -> None:
    """SIGTERM torchrun and its ranks, then SIGKILL whatever is left after `wait` seconds."""
    if proc.poll() is not None:
        return
    under = descendants(proc.pid)
    for pid in [proc.pid, *under]:
        _signal(pid, signal.SIGTERM)
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        pass
    for pid in under:
        _signal(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
