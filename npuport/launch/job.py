"""A launch from start to end: plan every node's command (or the Slurm script), print it, run it here.

`npuport train` calls plan() then execute(); so do the launch tests, with their own small module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ..errors import UsageError
from . import slurm as slurm_mod
from .npu_env import DeviceEnv, device_env
from .plan import Launch, Topology, WorkerOptions, build, every_node
from .runner import run_and_follow, wait_for_master

LAUNCHERS = ("torchrun", "slurm")
SAME_ON_EVERY_NODE = ("HCCL_CONNECT_TIMEOUT",)


@dataclass
class LaunchOptions:
    topology: Topology = field(default_factory=Topology)
    launcher: str = "torchrun"  # torchrun (one process runs directly) | slurm
    slurm: slurm_mod.SlurmOptions = field(default_factory=slurm_mod.SlurmOptions)
    cann: str | None = None  # --cann PATH
    env: dict[str, str] = field(default_factory=dict)  # --env NAME=VALUE overrides, applied last
    visible_devices: str | None = None  # --visible-devices 0,1,2,3
    bind_cores: str = "auto"  # auto: pin each rank to its share of cores when a node runs several; off
    local_rank_flag: str = ""  # also pass --local_rank/--local-rank N to the module (legacy scripts)


@dataclass
class LaunchPlan:
    nodes: list[Launch]  # the command of every node (one for an elastic run or a Slurm job)
    here: Launch  # what runs on this machine: this node's command, or `sbatch --wait SCRIPT`
    device_env: DeviceEnv
    script: Path | None = None  # Slurm batch script (written by execute)
    script_text: str = ""

    def describe(self) -> str:
        """The exact commands, per node; for Slurm the script and the sbatch command."""
        if self.script is not None:
            return f"# {self.script}\n{self.script_text}\n# submit:\n{self.here.shell()}"
        if len(self.nodes) == 1:
            return self.nodes[0].shell()
        return "\n".join(f"# {n.node}:\n{n.shell()}" for n in self.nodes)


def worker_options(opts: LaunchOptions) -> WorkerOptions:
    if opts.bind_cores not in ("auto", "off"):
        raise UsageError(f"--bind-cores {opts.bind_cores}: give auto or off")
    topo = opts.topology
    return WorkerOptions(bind_cores=opts.bind_cores == "auto" and topo.nproc_per_node > 1,
                         local_rank_flag=opts.local_rank_flag,
                         same_env=SAME_ON_EVERY_NODE if (topo.nnodes > 1 or topo.elastic) else ())


def plan(python: str, module: str, args: list[str], device: str, env: Mapping[str, str], opts: LaunchOptions,
         work_dir: Path, recipe_env: Mapping[str, str] | None = None, job_name: str = "npuport",
         require_cann: bool = True) -> LaunchPlan:
    """Every node's command with its environment: `env` (npuport's), then the device's, then --env.
    `require_cann=False` (a dry run on a machine without CANN) plans with CANN's standard path."""
    if opts.launcher not in LAUNCHERS:
        raise UsageError(f"--launcher {opts.launcher}: give one of {', '.join(LAUNCHERS)}")
    topo = opts.topology
    topo.check()
    denv = device_env(device, topo.nproc_per_node, recipe_env or {}, opts.env, opts.cann, opts.visible_devices,
                      require_cann=require_cann)
    full_env = {**env, **denv.env}
    worker = worker_options(opts)
    if opts.launcher == "slurm":
        sopts = opts.slurm if opts.slurm.job_name != "npuport" else _named(opts.slurm, job_name)
        master = None if topo.master_addr in ("", "auto") else topo.master_addr
        text = slurm_mod.batch_script(python, module, args, topo, device, full_env, sopts, work_dir, worker,
                                      denv.prelude, master)
        script = work_dir / slurm_mod.SCRIPT
        here = Launch(slurm_mod.sbatch_argv(script), {}, (), {}, "submit host")
        return LaunchPlan([here], here, denv, script, text)
    nodes = every_node(python, module, args, topo, full_env, worker, denv.prelude)
    here = build(python, module, args, topo, full_env, worker, denv.prelude, denv.sourced)
    return LaunchPlan(nodes, here, denv)


def _named(opts: slurm_mod.SlurmOptions, name: str) -> slurm_mod.SlurmOptions:
    from dataclasses import replace

    return replace(opts, job_name=name)


def execute(p: LaunchPlan, opts: LaunchOptions, work_dir: Path, total_iters: int | None = None, log=None,
            progress: bool = True) -> None:
    """Run this machine's part: wait for the master (node rank > 0), or write and submit the Slurm script."""
    if p.script is not None:
        slurm_mod.write_script(work_dir, p.script_text)
    else:
        wait_for_master(opts.topology, log)
    run_and_follow(p.here, work_dir, total_iters, progress, opts.topology.connect_timeout,
                   opts.topology.nproc_per_node, log, opts.topology.nnodes)
