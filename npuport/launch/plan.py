"""The exact commands and environment of a training launch."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UsageError


@dataclass(frozen=True)
class Topology:
    """Where the processes run: N per node on K nodes; this machine is node `node_rank`."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    def check(self) -> None:
        if self.nproc_per_node < 1:
            raise UsageError(f"--npus {self.nproc_per_node}: give at least 1 process per node")
        if self.nnodes < 1 or not 0 <= self.node_rank < self.nnodes:
            raise UsageError(f"--node-rank {self.node_rank}: must be in 0..{self.nnodes - 1} for --nnodes {self.nnodes}")
        if not 0 < self.master_port < 65536:
            raise UsageError(f"--master-port {self.master_port}: not a TCP port (1..65535)")


@dataclass
class Launch:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def shell(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in sorted(self.env.items()))
        return (env + " " if env else "") + " ".join(self.argv)


def build(python: str, module: str, args: list[str], topo: Topology, env: dict[str, str]) -> Launch:
    """One process runs the driver module directly; more go through torchrun (torch.distributed.run)."""
    topo.check()
    if topo.world_size == 1:
        return Launch([python, "-m", module, *args, "--launcher", "none"], env)
    runner = [python, "-m", "torch.distributed.run", f"--nproc_per_node={topo.nproc_per_node}",
              f"--nnodes={topo.nnodes}", f"--node_rank={topo.node_rank}", f"--master_addr={topo.master_addr}",
              f"--master_port={topo.master_port}"]
    return Launch([*runner, "-m", module, *args, "--launcher", "pytorch"], env)
