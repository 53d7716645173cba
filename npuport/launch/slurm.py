"""Slurm: a batch script that runs one torchrun per node, with node rank and master taken from Slurm.

The script is written into the work dir and submitted with `sbatch --wait`, so `npuport train` can
collect the results when the job ends. Every node runs `srun … bash -c npuport_node`: node rank from
SLURM_NODEID, node count from SLURM_JOB_NUM_NODES, master address the first host of the job's node list
(`scontrol show hostnames`), master port derived from the job id unless --master-port is given.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from .. import atomic
from ..errors import UsageError
from .plan import Topology, WorkerOptions, node_argv, shell_word

SCRIPT = "npuport-slurm.sh"
DEFAULT_GRES = {"npu": "npu", "cuda": "gpu"}  # a site may name its GRES otherwise: --gres-name / NPUPORT_SLURM_GRES


@dataclass(frozen=True)
class SlurmOptions:
    partition: str = ""
    time: str = ""
    extra: tuple[str, ...] = ()  # more sbatch options, one per #SBATCH line
    gres_name: str = ""  # "" = by device (npu, gpu), "none" = ask for no GRES
    master_port: int | None = None  # None = 29500 + job id % 1000
    job_name: str = "npuport"


def gres_line(device: str, nproc_per_node: int, gres_name: str) -> str:
    name = gres_name or os.environ.get("NPUPORT_SLURM_GRES", "") or DEFAULT_GRES.get(device, "")
    if not name or name == "none":
        return ""
    return f"--gres={name}:{nproc_per_node}"


def sbatch_options(topo: Topology, device: str, opts: SlurmOptions, work_dir: Path) -> list[str]:
    lines = [f"--job-name={opts.job_name}", f"--nodes={topo.nnodes}", "--ntasks-per-node=1",
             f"--output={work_dir / 'slurm-%j.out'}"]
    gres = gres_line(device, topo.nproc_per_node, opts.gres_name)
    if gres:
        lines.append(gres)
    if opts.partition:
        lines.append(f"--partition={opts.partition}")
    if opts.time:
        lines.append(f"--time={opts.time}")
    return lines + list(opts.extra)


def batch_script(python: str, module: str, args: list[str], topo: Topology, device: str, env: dict[str, str],
                 opts: SlurmOptions, work_dir: Path, worker: WorkerOptions | None = None,
                 prelude: tuple[str, ...] = (), master_addr: str | None = None) -> str:
    """The whole batch script, one torchrun per node."""
    if topo.elastic:
        raise UsageError("--launcher slurm with --rdzv-endpoint: Slurm fixes the nodes of a job; "
                         "drop --rdzv-endpoint (npuport derives the master from the job's node list)")
    worker = worker or WorkerOptions()
    argv = node_argv(python, module, args, topo, worker, "${SLURM_NODEID}", "${MASTER_ADDR}", "${MASTER_PORT}")
    if topo.distributed:  # the node count comes from the job, as Slurm granted it
        argv = ["--nnodes=${SLURM_JOB_NUM_NODES}" if a.startswith("--nnodes=") else a for a in argv]
    port = str(opts.master_port) if opts.master_port else "$((29500 + SLURM_JOB_ID % 1000))"
    addr = shlex.quote(master_addr) if master_addr else '"$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"'
    timeout = f"{topo.connect_timeout:g}"
    lines = ["#!/bin/bash", f"# written by npuport: {topo.nnodes} node(s) x {topo.nproc_per_node} {device} "
             "process(es); submit with: sbatch --wait THIS_FILE"]
    lines += [f"#SBATCH {o}" for o in sbatch_options(topo, device, opts, work_dir)]
    lines += ["set -eo pipefail", *prelude]
    lines += [f"export {k}={shlex.quote(str(v))}" for k, v in sorted(env.items())]
    lines += [f"export MASTER_ADDR={addr}", f"export MASTER_PORT={port}", "",
              "npuport_node() {",
              '  if [ "${SLURM_NODEID:-0}" != 0 ]; then',
              f'    {shlex.quote(python)} -m npuport.launch.rendezvous wait "$MASTER_ADDR" "$MASTER_PORT" '
              f'--timeout {timeout} --node "node $SLURM_NODEID ($(hostname))"',
              "  fi",
              "  exec " + " ".join(shell_word(a) for a in argv),
              "}",
              "export -f npuport_node",
              'echo "npuport: job $SLURM_JOB_ID on $SLURM_JOB_NODELIST, master $MASTER_ADDR:$MASTER_PORT" >&2',
              f"srun --nodes={topo.nnodes} --ntasks-per-node=1 --kill-on-bad-exit=1 bash -c npuport_node", ""]
    return "\n".join(lines)


def write_script(work_dir: Path, text: str) -> Path:
    """WORK_DIR/npuport-slurm.sh, written whole."""
    work_dir.mkdir(parents=True, exist_ok=True)
    return atomic.write_text(work_dir / SCRIPT, text, mode=0o755)


def sbatch_argv(script: Path) -> list[str]:
    return ["sbatch", "--wait", "--parsable", str(script)]
