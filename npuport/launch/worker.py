"""The per-rank wrapper torchrun starts: pin cores, check cross-node settings, then exec the training module.

    python -m npuport.launch.worker [--bind-cores] [--local-rank-flag=--local_rank|--local-rank]
        [--same-env=VAR ...] [--check-timeout=S] MODULE [ARGS...]

--bind-cores does what the hand-made scripts did with `taskset -c START-END python ...`: rank r of a node
with n ranks gets the r-th of n equal slices of the cores this node allows (the affinity is inherited
by the exec'd module and all its threads and data loader workers).
--same-env: local rank 0 of every node publishes the variables in the launcher's store and compares
them with every other node's; all nodes stop with one message when they differ (HCCL_CONNECT_TIMEOUT
must be equal on every node, or HCCL's link setup fails much later with a timeout).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_MISMATCH = 3


def core_share(cores: list[int], local_rank: int, local_world: int) -> list[int]:
    """Rank `local_rank`'s slice of `cores`: equal contiguous slices; with more ranks than cores, one core each."""
    cores = sorted(cores)
    per = len(cores) // max(1, local_world)
    if per == 0:
        return [cores[local_rank % len(cores)]]
    return cores[local_rank * per:(local_rank + 1) * per]


def ranges(cores: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5' (taskset's notation)."""
    out, start = [], None
    for i, c in enumerate(cores):
        if start is None:
            start = c
        if i + 1 == len(cores) or cores[i + 1] != c + 1:
            out.append(f"{start}-{c}" if c != start else str(c))
            start = None
    return ",".join(out)


def bind_cores(local_rank: int, local_world: int) -> str:
    mine = core_share(sorted(os.sched_getaffinity(0)), local_rank, local_world)
    os.sched_setaffinity(0, mine)
    text = ranges(mine)
    os.environ["NPUPORT_CORES"] = text
    return text


def check_same_env(names: list[str], timeout: float) -> str:
    """'' when every node has the same values; else the message. Needs torchrun's agent store."""
    nodes = int(os.environ.get("GROUP_WORLD_SIZE", "1"))
    if nodes < 2 or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return ""
    from datetime import timedelta

    from torch.distributed import PrefixStore, TCPStore

    store = TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                     timeout=timedelta(seconds=timeout))
    prefix = f"npuport/same-env/{os.environ.get('TORCHELASTIC_RUN_ID', '')}/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/"
    store = PrefixStore(prefix, store)
    me = int(os.environ.get("GROUP_RANK", "0"))
    mine = {n: os.environ.get(n) for n in names}
    store.set(str(me), json.dumps(mine))
    seen = {g: json.loads(store.get(str(g))) for g in range(nodes)}
    bad = [n for n in names if len({json.dumps(v.get(n)) for v in seen.values()}) > 1]
    if not bad:
        return ""
    detail = "; ".join(f"{n} is not the same on every node ("
                       + ", ".join(f"node {g}={seen[g].get(n) or 'unset'}" for g in sorted(seen)) + ")" for n in bad)
    return (f"npuport: error: {detail}: it must be; give the same --env {bad[0]}=VALUE to `npuport train` "
            "on every node")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m npuport.launch.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--bind-cores", action="store_true")
    parser.add_argument("--local-rank-flag", choices=["--local_rank", "--local-rank"])
    parser.add_argument("--same-env", action="append", default=[])
    parser.add_argument("--check-timeout", type=float, default=60.0)
    parser.add_argument("module")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if ns.bind_cores:
        cores = bind_cores(local_rank, local_world)
        print(f"npuport: rank {os.environ.get('RANK', local_rank)} (local {local_rank}) pinned to cores {cores}",
              file=sys.stderr, flush=True)
    if ns.same_env and local_rank == 0:
        message = check_same_env(ns.same_env, ns.check_timeout)
        if message:
            print(message, file=sys.stderr, flush=True)
            sys.exit(EXIT_MISMATCH)
    args = list(ns.args)
    if ns.local_rank_flag:
        args.append(f"{ns.local_rank_flag}={local_rank}")
    os.execv(sys.executable, [sys.executable, "-u", "-m", ns.module, *args])


if __name__ == "__main__":
    main()
