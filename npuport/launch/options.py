"""The launch options shared by `npuport train` and `npuport doctor`, declared once (click) and turned into
LaunchOptions. Only click is imported here; the launch modules load when a command runs."""

from __future__ import annotations

import shlex

import click

TOPOLOGY_KEYS = ("npus", "nnodes", "node_rank", "master_addr", "master_port", "rdzv_endpoint", "rdzv_id",
                 "connect_timeout")
LAUNCH_KEYS = TOPOLOGY_KEYS + ("launcher", "partition", "nodes", "time_limit", "slurm_args", "gres_name", "cann",
                               "env_pairs", "visible_devices", "bind_cores", "local_rank_flag")


def topology_options(f):
    """--npus, --nnodes, --node-rank, --master-addr/--master-port, --rdzv-endpoint/--rdzv-id, --connect-timeout."""
    opts = [
        click.option("--npus", type=click.IntRange(1), default=1, show_default=True,
                     help="Processes (devices) per node; more than one goes through torchrun."),
        click.option("--nnodes", default="1", show_default=True, metavar="K|MIN:MAX",
                     help="Nodes taking part (MIN:MAX with --rdzv-endpoint: elastic)."),
        click.option("--node-rank", type=click.IntRange(0), default=0, show_default=True, help="This node's rank."),
        click.option("--master-addr", metavar="HOST",
                     help="Node 0's address (default 127.0.0.1; with Slurm the job's first node)."),
        click.option("--master-port", type=click.IntRange(1, 65535), metavar="PORT",
                     help="Node 0's port (default 29500; with Slurm 29500 + job id % 1000)."),
        click.option("--rdzv-endpoint", metavar="HOST:PORT", help="Elastic c10d rendezvous (nodes may come and go)."),
        click.option("--rdzv-id", default="npuport", show_default=True, help="Elastic job id, the same on every node."),
        click.option("--connect-timeout", type=click.FloatRange(0.1), default=60.0, show_default=True, metavar="S",
                     help="Seconds a node waits for the master or the other nodes before it fails."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def launch_options(f):
    """Topology, then launcher/Slurm, NPU environment and per-rank options."""
    opts = [
        click.option("--launcher", type=click.Choice(["torchrun", "slurm"]), default="torchrun", show_default=True,
                     help="torchrun on this node, or a Slurm batch job (sbatch --wait)."),
        click.option("--partition", metavar="P", help="Slurm partition."),
        click.option("--nodes", type=click.IntRange(1), metavar="K", help="Slurm: nodes of the job (same as --nnodes)."),
        click.option("--time", "time_limit", metavar="T", help="Slurm time limit, e.g. 2-00:00:00."),
        click.option("--slurm-args", metavar="'ARGS'", help="More sbatch options, e.g. '--exclusive --account=a1'."),
        click.option("--gres-name", metavar="NAME",
                     help="The site's GRES name (default npu on NPUs, gpu on CUDA; none: ask for none). "
                          "Also NPUPORT_SLURM_GRES."),
        click.option("--cann", metavar="PATH", help="CANN toolkit (default ASCEND_TOOLKIT_HOME, then the standard path)."),
        click.option("--env", "env_pairs", multiple=True, metavar="NAME=VALUE",
                     help="Set a variable in every rank, over the recipe's NPU variables; repeatable."),
        click.option("--visible-devices", metavar="IDS",
                     help="Devices of this node, e.g. 4,5,6,7 (ASCEND_RT_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES)."),
        click.option("--bind-cores", type=click.Choice(["auto", "off"]), default="auto", show_default=True,
                     help="auto: pin each rank to its share of the node's cores (like taskset -c)."),
        click.option("--local-rank-flag", type=click.Choice(["--local_rank", "--local-rank"]),
                     help="Also pass the local rank as this flag (scripts that do not read LOCAL_RANK)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return topology_options(f)


def topology_from(kw: dict, slurm: bool = False):
    from .plan import Topology, parse_nnodes

    low, high = parse_nnodes(kw["nnodes"])
    if slurm and kw.get("nodes"):
        if kw["nnodes"] not in ("1", str(kw["nodes"])):
            raise click.UsageError(f"--nodes {kw['nodes']} and --nnodes {kw['nnodes']} disagree; give one")
        high = kw["nodes"]
    addr = kw.get("master_addr") or ("auto" if slurm else "127.0.0.1")
    return Topology(kw["npus"], high, kw["node_rank"], addr, kw.get("master_port") or 29500, low,
                    kw.get("rdzv_endpoint") or "", kw.get("rdzv_id") or "npuport", kw["connect_timeout"])


def launch_from(kw: dict):
    """LaunchOptions from the click keyword arguments of launch_options."""
    from .job import LaunchOptions
    from .npu_env import parse_overrides
    from .slurm import SlurmOptions

    slurm = kw["launcher"] == "slurm"
    if not slurm and (kw.get("partition") or kw.get("nodes") or kw.get("time_limit") or kw.get("slurm_args")):
        raise click.UsageError("--partition/--nodes/--time/--slurm-args need --launcher slurm")
    sopts = SlurmOptions(kw.get("partition") or "", kw.get("time_limit") or "",
                         tuple(shlex.split(kw.get("slurm_args") or "")), kw.get("gres_name") or "",
                         kw.get("master_port"))
    return LaunchOptions(topology_from(kw, slurm), kw["launcher"], sopts, kw.get("cann"),
                         parse_overrides(kw.get("env_pairs") or ()), kw.get("visible_devices"),
                         kw.get("bind_cores") or "auto", kw.get("local_rank_flag") or "")
