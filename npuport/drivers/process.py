"""Where a driver process sits in the run, and joining torchrun's process group (every driver)."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Callable

from npuport import runtime
from npuport.contract import DEVICE_ENV, END_DIR_ENV, LAUNCHERS, LEAVE_TIMEOUT
from npuport.errors import NpuportError, UsageError

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
LEFT_KEY = "npuport/left-process-group"


@dataclass
class Dist:
    """This process's rank, the world size, its local rank; `distributed` when a process group is up."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    distributed: bool = False


def setup_process(launcher: str) -> Dist:
    """Pick the device and, with launcher 'pytorch', join the process group torchrun describes, with the
    device's backend (hccl, nccl or gloo)."""
    if os.environ.get(DEVICE_ENV, "").lower() == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # keep DataParallel off a GPU that is present
    if launcher not in LAUNCHERS:
        raise UsageError(f"--launcher {launcher!r} is not supported; use {' or '.join(LAUNCHERS)}")
    if launcher == "none":
        return Dist()
    missing = [name for name in TORCHRUN_ENV if name not in os.environ]
    if missing:
        raise UsageError(f"--launcher pytorch: {', '.join(missing)} not set; start the driver with torchrun "
                         "(npuport train --npus N does) or use --launcher none")
    import torch.distributed as dist

    info = Dist(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0")), True)
    runtime.set_device(info.local_rank)
    dist.init_process_group(backend=runtime.dist_backend(), init_method="env://")
    return info


def leave_process_group(timeout: float = LEAVE_TIMEOUT) -> None:
    """The end of a distributed run on every rank: a barrier, the group destroyed, then a wait in the rendezvous
    store until every rank has destroyed its own, so no rank exits (closing its gloo sockets) while another is
    still tearing its group down: a gloo rank then aborts ("terminate called without an active exception").

    The wait is bounded as a whole (`timeout`), store calls included; a store that is gone ends it. The rank marks
    "barrier" then "left" for the launcher (END_DIR_ENV), which stops a torchrun that does not exit after them."""
    import time
    from datetime import timedelta

    import torch.distributed as dist

    if not dist.is_initialized():
        return
    world = dist.get_world_size()
    store = dist.distributed_c10d._get_default_store()  # the rendezvous store outlives the group
    dist.barrier()
    mark_end("barrier")  # every rank has finished its work: only the teardown is left
    dist.destroy_process_group()
    deadline = time.monotonic() + timeout
    try:
        store.set_timeout(timedelta(seconds=timeout))  # no single store call outlasts the wait
        store.add(LEFT_KEY, 1)
        while store.add(LEFT_KEY, 0) < world and time.monotonic() < deadline:
            time.sleep(0.01)
    except RuntimeError:  # the store's host (torchrun's agent) is gone or does not answer: nobody to wait for
        pass
    mark_end("left")


def mark_end(stage: str) -> None:
    """An empty file END_DIR/rank<RANK>.<stage>, when the launcher asked for one; never fails the run."""
    folder = os.environ.get(END_DIR_ENV)
    if not folder:
        return
    try:
        open(os.path.join(folder, f"rank{os.environ.get('RANK', '0')}.{stage}"), "w").close()
    except OSError:
        pass


def run_main(train: Callable[..., Any], *args: Any) -> int:
    """A driver's main: train(*args), and turn npuport's errors into one line and their exit code."""
    try:
        train(*args)
    except NpuportError as error:
        print(f"npuport: error: {error}", file=sys.stderr)
        return error.exit_code
    return 0
