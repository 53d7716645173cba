"""The exact commands and environment of a training launch, for this node or for every node."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from ..errors import UsageError

WORKER = "npuport.launch.worker"  # the per-rank wrapper torchrun starts: pins cores, checks env, then execs


@dataclass(frozen=True)
class Topology:
    """Where the processes run: N per node on K nodes; this machine is node `node_rank`.

    Elastic runs (`rdzv_endpoint` set) use torchrun's c10d rendezvous: nodes may come and go between
    `min_nnodes` and `nnodes`, and torchrun assigns node ranks itself.
    """

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    min_nnodes: int | None = None  # elastic: the MIN of --nnodes MIN:MAX
    rdzv_endpoint: str = ""  # elastic: HOST:PORT of the c10d rendezvous
    rdzv_id: str = "npuport"  # elastic: the job id every node gives
    connect_timeout: float = 60.0  # seconds a node waits for the master / the rendezvous

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    @property
    def elastic(self) -> bool:
        return bool(self.rdzv_endpoint)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or self.elastic

    def check(self) -> None:
        if self.nproc_per_node < 1:
            raise UsageError(f"--npus {self.nproc_per_node}: give at least 1 process per node")
        if self.nnodes < 1 or not 0 <= self.node_rank < self.nnodes:
            raise UsageError(f"--node-rank {self.node_rank}: must be in 0..{self.nnodes - 1} for --nnodes {self.nnodes}")
        if not 0 < self.master_port < 65536:
            raise UsageError(f"--master-port {self.master_port}: not a TCP port (1..65535)")
        if self.connect_timeout <= 0:
            raise UsageError(f"--connect-timeout {self.connect_timeout:g}: give a positive number of seconds")
        if self.min_nnodes is not None and not 1 <= self.min_nnodes <= self.nnodes:
            raise UsageError(f"--nnodes {self.min_nnodes}:{self.nnodes}: MIN must be in 1..MAX")
        if self.min_nnodes is not None and self.min_nnodes != self.nnodes and not self.elastic:
            raise UsageError(f"--nnodes {self.min_nnodes}:{self.nnodes}: a node range needs elastic rendezvous; "
                             "add --rdzv-endpoint HOST:PORT (and --rdzv-id ID)")
        if self.elastic:
            host, _, port = self.rdzv_endpoint.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise UsageError(f"--rdzv-endpoint {self.rdzv_endpoint}: give HOST:PORT, e.g. node0:29400")

    @property
    def rdzv_host_port(self) -> tuple[str, int]:
        host, _, port = self.rdzv_endpoint.rpartition(":")
        return host.strip("[]"), int(port)


def parse_nnodes(text: str) -> tuple[int | None, int]:
    """`--nnodes K` or `--nnodes MIN:MAX` (elastic) as (min or None, max)."""
    try:
        if ":" in str(text):
            lo, hi = (int(v) for v in str(text).split(":"))
            return lo, hi
        return None, int(text)
    except ValueError:
        raise UsageError(f"--nnodes {text}: give a number of nodes, or MIN:MAX for an elastic run") from None


@dataclass(frozen=True)
class WorkerOptions:
    """What the per-rank wrapper does before it execs the training module."""

    bind_cores: bool = False  # pin each rank to its share of this node's cores (like the scripts' taskset -c)
    local_rank_flag: str = ""  # "" (LOCAL_RANK only), "--local_rank" or "--local-rank": also pass it as a flag
    same_env: tuple[str, ...] = ()  # variables that must be equal on every node (checked at start)

    def argv(self, check_timeout: float) -> list[str]:
        out = ["--bind-cores"] if self.bind_cores else []
        if self.local_rank_flag:
            out.append(f"--local-rank-flag={self.local_rank_flag}")
        for name in self.same_env:
            out.append(f"--same-env={name}")
        if self.same_env:
            out.append(f"--check-timeout={check_timeout:g}")
        return out


@dataclass
class Launch:
    """One node's command: `prelude` (shell lines, e.g. sourcing CANN's set_env.sh) then env + argv.

    `sourced` holds the variables the prelude sets, applied when npuport runs the command itself.
    """

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    prelude: tuple[str, ...] = ()
    sourced: dict[str, str] = field(default_factory=dict)
    node: str = ""  # "node 0", "every node" ...

    def shell(self) -> str:
        env = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in sorted(self.env.items()))
        cmd = (env + " " if env else "") + " ".join(shell_word(a) for a in self.argv)
        return " && ".join([*self.prelude, cmd])


def shell_word(word: str) -> str:
    """Quote for bash, but leave `${VAR}` references expandable (Slurm scripts)."""
    if "${" in word and '"' not in word and "`" not in word:
        return f'"{word}"'
    return shlex.quote(word)


def torchrun_argv(python: str, topo: Topology, node_rank: str, master_addr: str, master_port: str) -> list[str]:
    """torchrun's options for one node; rank, address and port are strings so Slurm can pass `${VAR}`s."""
    argv = [python, "-m", "torch.distributed.run", f"--nproc-per-node={topo.nproc_per_node}"]
    timeout = max(1, int(round(topo.connect_timeout)))
    if topo.elastic:
        nnodes = f"{topo.min_nnodes or topo.nnodes}:{topo.nnodes}"
        argv += [f"--nnodes={nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={topo.rdzv_endpoint}",
                 f"--rdzv-id={topo.rdzv_id}", f"--rdzv-conf=join_timeout={timeout},read_timeout={timeout}",
                 "--max-restarts=3"]
    else:
        argv += [f"--nnodes={topo.nnodes}", f"--node-rank={node_rank}", f"--master-addr={master_addr}",
                 f"--master-port={master_port}", f"--rdzv-conf=timeout={timeout}", "--max-restarts=0"]
    return argv


def node_argv(python: str, module: str, args: list[str], topo: Topology, worker: WorkerOptions,
              node_rank: str, master_addr: str, master_port: str) -> list[str]:
    """One process runs the module directly; more go through torchrun and npuport's per-rank wrapper."""
    if not topo.distributed:
        return [python, "-m", module, *args, "--launcher", "none"]
    runner = torchrun_argv(python, topo, node_rank, master_addr, master_port)
    return [*runner, "-m", WORKER, *worker.argv(topo.connect_timeout), module, *args, "--launcher", "pytorch"]


def build(python: str, module: str, args: list[str], topo: Topology, env: dict[str, str],
          worker: WorkerOptions | None = None, prelude: tuple[str, ...] = (),
          sourced: dict[str, str] | None = None) -> Launch:
    """This node's launch."""
    topo.check()
    worker = worker or WorkerOptions()
    argv = node_argv(python, module, args, topo, worker, str(topo.node_rank), topo.master_addr, str(topo.master_port))
    label = "every node" if topo.elastic else f"node {topo.node_rank}"
    return Launch(argv, dict(env), tuple(prelude), dict(sourced or {}), label)


def every_node(python: str, module: str, args: list[str], topo: Topology, env: dict[str, str],
               worker: WorkerOptions | None = None, prelude: tuple[str, ...] = ()) -> list[Launch]:
    """The command for each node (one, identical on every node, for an elastic run)."""
    from dataclasses import replace

    if topo.elastic or topo.nnodes == 1:
        return [build(python, module, args, topo, env, worker, prelude)]
    return [build(python, module, args, replace(topo, node_rank=r), env, worker, prelude) for r in range(topo.nnodes)]
