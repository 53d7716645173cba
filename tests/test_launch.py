"""Launch through the real CLI: torchrun with gloo, two "nodes" on loopback, a master nobody answers,
core pinning, the NPU environment (a fake CANN whose set_env.sh a real bash sources), dry runs.

The trained module is a tiny real torch.distributed program written here (no upstream driver needed),
set up as a recipe so that every run goes through `npuport train`, exactly as a model's would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO, run_cli, write
from npuport import build
from npuport.contract import LEAVE_TIMEOUT
from npuport.launch.ending import EndWatch, exit_grace
from npuport.launch.plan import Topology, parse_nnodes
from npuport.launch.rendezvous import free_port
from npuport.launch.worker import core_share, ranges
from npuport.workspace import Workspace

TINY_TRAIN = r'''
import argparse, json, os, time

import torch
import torch.distributed as dist

from npuport.launch.local_rank import add_local_rank_argument

p = argparse.ArgumentParser()
p.add_argument("--work-dir", required=True)
p.add_argument("--max-iters", type=int, default=8)
p.add_argument("--samples-per-device", type=int, default=8)
p.add_argument("--launcher", default="none")
add_local_rank_argument(p)
args, _ = p.parse_known_args()  # npuport passes the recipe's driver options too
os.makedirs(args.work_dir, exist_ok=True)
torch.manual_seed(0)
distributed = args.launcher == "pytorch"
if distributed:
    dist.init_process_group("gloo", init_method="env://")
rank = dist.get_rank() if distributed else 0
world = dist.get_world_size() if distributed else 1
model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
gen = torch.Generator().manual_seed(100 + rank)
metrics = open(os.path.join(args.work_dir, "npuport-metrics.jsonl"), "a") if rank == 0 else None
batch = args.samples_per_device
for it in range(args.max_iters):
    t0 = time.perf_counter()
    x = torch.randn(batch, 16, generator=gen)
    loss = torch.nn.functional.mse_loss(model(x), x.sum(dim=1, keepdim=True))
    opt.zero_grad()
    loss.backward()
    if distributed:
        for prm in model.parameters():
            dist.all_reduce(prm.grad)
            prm.grad /= world
    opt.step()
    if metrics:
        metrics.write(json.dumps({"iter": it + 1, "time": time.perf_counter() - t0, "samples": batch,
                                  "world_size": world, "loss": loss.item()}) + "\n")
        metrics.flush()
checksum = float(torch.cat([q.detach().flatten() for q in model.parameters()]).sum())
ranks_sum = 0.0
if distributed:
    t = torch.tensor([float(rank)])
    dist.all_reduce(t)
    ranks_sum = float(t)
info = {"rank": rank, "pid": os.getpid(), "world_size": world, "ranks_sum": ranks_sum, "local_rank_arg": args.local_rank,
        "local_rank_env": os.environ.get("LOCAL_RANK"), "affinity": sorted(os.sched_getaffinity(0)),
        "checksum": checksum, "node": os.environ.get("GROUP_RANK"),
        "env": {k: os.environ.get(k) for k in ("HCCL_CONNECT_TIMEOUT", "ASCEND_RT_VISIBLE_DEVICES", "FAKE_CANN_VAR",
                                                "LD_LIBRARY_PATH", "NPUPORT_CORES", "TASK_QUEUE_ENABLE")}}
with open(os.path.join(args.work_dir, f"rank-{rank}.json"), "w") as f:
    json.dump(info, f)
if distributed:
    from npuport.drivers.process import leave_process_group

    leave_process_group()  # the drivers' end: no rank exits while another tears down its gloo group
    if os.environ.get("TINY_HANG_AT_EXIT") == str(rank):  # a rank whose process then never exits
        import threading

        threading.Thread(target=time.sleep, args=(3600,)).start()
'''

RECIPE = """
name = "tiny"
description = "a tiny torch.distributed program for the launch tests"

[[source]]
name = "tiny"
kind = "path"
path = "{src}"

[train]
driver = "tiny_train"
samples_per_device = 8
warmup_iters = 2
epochs = 1

[train.npu_env]
TASK_QUEUE_ENABLE = 1
HCCL_CONNECT_TIMEOUT = 1200

[[reference]]
device = "gpu"
world_size = 2
fps = 1000
"""


@dataclass
class Tiny:
    root: Path
    recipes: Path
    workspace: Path
    data: Path
    env: dict

    def train(self, work_dir: Path, *args: str, env: dict | None = None, timeout: float = 300):
        return run_cli(*self.train_args(work_dir, *args), env={**self.env, **(env or {})}, timeout=timeout)

    def train_args(self, work_dir: Path, *args: str) -> list[str]:
        return ["train", "tiny", "--recipes", str(self.recipes), "--workspace", str(self.workspace),
                "--data", str(self.data), "--work-dir", str(work_dir), "--max-iters", "6", *args]

    def popen(self, work_dir: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "npuport", *self.train_args(work_dir, *args)], cwd=REPO,
                                env={**os.environ, **self.env, **(env or {})}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


def make_tiny(root: Path) -> Tiny:
    """The tiny recipe, set up (a real workspace with its environment) once; the module comes on PYTHONPATH."""
    src = root / "src"
    write(src / "tiny_train.py", TINY_TRAIN)
    recipes = root / "recipes"
    write(recipes / "tiny" / "recipe.toml", RECIPE.format(src=src))
    (root / "data").mkdir(exist_ok=True)
    env = {"PYTHONPATH": str(src), "NPUPORT_CACHE": str(root / "cache"), "NPUPORT_CONFIG": str(root / "none.toml"),
           "PIP_INDEX_URL": f"http://127.0.0.1:{free_port()}/simple/"}
    out = run_cli("verify-patches", "tiny", "--recipes", str(recipes), "--record", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    ws = root / "ws"
    out = run_cli("setup", "tiny", "--recipes", str(recipes), "--workspace", str(ws), env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    build.create_env(Workspace(ws))  # the workspace environment (the recipe has nothing to pip install)
    return Tiny(root, recipes, ws, root / "data", env)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Tiny:
    return make_tiny(tmp_path_factory.mktemp("tiny"))


def ranks(work_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(work_dir.glob("rank-*.json"))]


def fake_cann(root: Path, version: str = "8.0.RC1") -> Path:
    """A CANN-shaped folder: ascend-toolkit/set_env.sh (a real script) and latest/ with a version file."""
    kit = root / "Ascend" / "ascend-toolkit"
    write(kit / "latest" / "x86_64-linux" / "ascend_toolkit_install.info", f"package_name=Ascend-cann-toolkit\n"
                                                                           f"version={version}\n")
    write(kit / "set_env.sh", f"""
        export ASCEND_TOOLKIT_HOME={kit / 'latest'}
        export LD_LIBRARY_PATH=${{ASCEND_TOOLKIT_HOME}}/lib64:${{LD_LIBRARY_PATH}}
        export FAKE_CANN_VAR=sourced-by-bash
        if [ -n "$BASH_VERSION" ]; then export FAKE_CANN_SHELL=bash; fi
        """)
    return kit


# --- small pieces --------------------------------------------------------------------------------------------

def test_core_share_and_ranges():
    assert core_share(list(range(8)), 1, 4) == [2, 3]
    assert core_share(list(range(8)), 3, 4) == [6, 7]
    assert core_share([0, 1], 2, 4) == [0]  # more ranks than cores: one core each, round robin
    assert ranges([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


def test_topology_checks():
    assert parse_nnodes("2") == (None, 2) and parse_nnodes("1:4") == (1, 4)
    from npuport.errors import UsageError

    with pytest.raises(UsageError, match="--rdzv-endpoint"):
        Topology(2, 4, min_nnodes=1).check()
    with pytest.raises(UsageError, match="--node-rank 2"):
        Topology(2, 2, 2).check()
    with pytest.raises(UsageError, match="HOST:PORT"):
        Topology(2, 2, rdzv_endpoint="nohostport").check()


# --- through `npuport train` ---------------------------------------------------------------------------------

def test_two_processes_gloo_through_torchrun(tiny, tmp_path):
    wd = tmp_path / "run"
    port = free_port()
    start = time.monotonic()
    out = tiny.train(wd, "--npus", "2", "--device", "cpu", "--master-port", str(port),
                     "--local-rank-flag", "--local_rank", "--json")
    took = time.monotonic() - start
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads(out.stdout)
    assert "torch.distributed.run" in data["command"] and f"--master-port={port}" in data["command"]
    got = ranks(wd)
    assert [r["rank"] for r in got] == [0, 1] and {r["world_size"] for r in got} == {2}
    assert {r["ranks_sum"] for r in got} == {1.0}  # all_reduce of the ranks: 0 + 1
    assert len({r["checksum"] for r in got}) == 1  # the all-reduced gradients kept the replicas equal
    assert [r["local_rank_arg"] for r in got] == [0, 1]  # --local_rank N reached the module
    cores = sorted(os.sched_getaffinity(0))
    assert [r["affinity"] for r in got] == [core_share(cores, i, 2) for i in range(2)]  # pinned, like taskset -c
    if len(cores) >= 2:
        assert not set(got[0]["affinity"]) & set(got[1]["affinity"])
    results = json.loads((wd / "results.json").read_text())
    assert results["world_size"] == 2 and results["fps"] > 0 and results["iters"] == 6
    assert took < 120


def test_a_rank_that_never_exits_is_stopped_and_the_results_stand(tiny, tmp_path):
    """Rank 1 left its process group, then its process never exits: torchrun would wait for it for ever (a run
    once hung so at its end). `npuport train` stops torchrun and the rank NPUPORT_EXIT_GRACE s after every rank
    left, says so, and writes the results of the training, which had ended."""
    wd = tmp_path / "run"
    start = time.monotonic()
    out = tiny.train(wd, "--npus", "2", "--device", "cpu", "--master-port", str(free_port()), timeout=150,
                     env={"TINY_HANG_AT_EXIT": "1", "NPUPORT_EXIT_GRACE": "3"})
    took = time.monotonic() - start
    assert out.returncode == 0, out.stdout + out.stderr
    assert "every rank of this node (0, 1) left its process group, but torchrun did not exit within 3 s" in out.stderr
    assert json.loads((wd / "results.json").read_text())["iters"] == 6
    hung = [r["pid"] for r in ranks(wd) if r["rank"] == 1][0]
    assert not running(hung), f"rank 1 (pid {hung}) was left running"
    assert took < 60


def running(pid: int) -> bool:
    """`pid` is a live process (not gone, not a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_end_marks_say_when_torchrun_is_overdue(tmp_path):
    watch = EndWatch(tmp_path, local_ranks=2, grace=5)
    assert watch.overdue(0.0) == ""  # no mark: the training may take as long as it takes
    (tmp_path / "rank1.barrier").touch()
    assert watch.overdue(10.0) == ""
    assert watch.overdue(10.0 + LEAVE_TIMEOUT + 5) == ""
    assert watch.overdue(10.0 + LEAVE_TIMEOUT + 5.5) == (
        "every rank had finished its work (rank 1 passed the final barrier), but rank 1 did not leave its process "
        "group and 1 rank(s) of this node did not get past the final barrier within 65 s")
    left = EndWatch(tmp_path, local_ranks=2, grace=5)
    for name in ("rank0.left", "rank1.left"):
        (tmp_path / name).touch()
    assert left.overdue(100.0) == "" and left.overdue(105.0) == ""
    assert "every rank of this node (0, 1) left its process group, but torchrun did not exit within 5 s" in left.overdue(105.5)


def test_exit_grace_waits_out_torchruns_exit_barrier_across_nodes(monkeypatch):
    """One node: 60 s after its ranks left; several: plus the 300 s torchrun's agents wait for each other at exit,
    so a node that finished first is not stopped (and warned about) while it waits for the others."""
    monkeypatch.delenv("NPUPORT_EXIT_GRACE", raising=False)
    assert exit_grace(1) == 60 and exit_grace(2) == 360
    monkeypatch.setenv("NPUPORT_EXIT_GRACE", "7")
    assert exit_grace(1) == exit_grace(4) == 7


def test_two_nodes_on_loopback_agree_on_world_size_4(tiny, tmp_path):
    port = free_port()
    common = ("--npus", "2", "--nnodes", "2", "--master-addr", "127.0.0.1", "--master-port", str(port),
              "--device", "cpu", "--connect-timeout", "60", "--local-rank-flag", "--local-rank")
    nodes = [tiny.popen(tmp_path / f"node{r}", *common, "--node-rank", str(r)) for r in (1, 0)]  # node 1 first
    outs = [p.communicate(timeout=240) for p in nodes]
    for p, (so, se) in zip(nodes, outs):
        assert p.returncode == 0, so + se
    got = ranks(tmp_path / "node0") + ranks(tmp_path / "node1")
    assert sorted(r["rank"] for r in got) == [0, 1, 2, 3]
    assert {r["world_size"] for r in got} == {4} and {r["ranks_sum"] for r in got} == {6.0}
    assert {r["node"] for r in got} == {"0", "1"} and len({r["checksum"] for r in got}) == 1
    assert sorted(r["local_rank_arg"] for r in got) == [0, 0, 1, 1]  # --local-rank N on each node
    results = json.loads((tmp_path / "node0" / "results.json").read_text())
    assert results["world_size"] == 4
    assert not (tmp_path / "node1" / "results.json").exists()  # only the node that ran rank 0 writes it
    assert "the node that ran rank 0 writes" in outs[0][1]


@pytest.mark.slow
def test_elastic_rendezvous_on_loopback(tiny, tmp_path):
    """The same command on two "nodes": torchrun's c10d rendezvous assigns the node ranks."""
    common = ("--npus", "1", "--nnodes", "2:2", "--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--rdzv-id", "t1",
              "--device", "cpu", "--connect-timeout", "60")
    nodes = [tiny.popen(tmp_path / f"node{r}", *common) for r in (0, 1)]
    outs = [p.communicate(timeout=240) for p in nodes]
    for p, (so, se) in zip(nodes, outs):
        assert p.returncode == 0, so + se
    got = ranks(tmp_path / "node0") + ranks(tmp_path / "node1")
    assert sorted(r["rank"] for r in got) == [0, 1] and {r["world_size"] for r in got} == {2}
    assert len(list(tmp_path.glob("node*/results.json"))) == 1  # written where rank 0 ran


@pytest.mark.parametrize("addr", ["127.0.0.1", "127.0.0.2"])
def test_unreachable_master_fails_within_the_timeout(tiny, tmp_path, addr):
    port = free_port()  # found free and closed again: nobody listens there
    start = time.monotonic()
    out = tiny.train(tmp_path / "run", "--npus", "2", "--nnodes", "2", "--node-rank", "1", "--master-addr", addr,
                     "--master-port", str(port), "--device", "cpu", "--connect-timeout", "3", timeout=120)
    took = time.monotonic() - start
    assert out.returncode == 1, out.stderr
    assert f"cannot reach the master at {addr}:{port} within 3 s" in out.stderr
    assert "--connect-timeout" in out.stderr and "start node 0 first" in out.stderr
    # the wait plus CLI start-up (tens of seconds on a loaded 2-core machine), not torchrun's 600 s default
    assert took < 3 + 60
    assert not (tmp_path / "run" / "rank-2.json").exists()


def test_master_alone_fails_within_the_timeout(tiny, tmp_path):
    start = time.monotonic()
    out = tiny.train(tmp_path / "run", "--npus", "2", "--nnodes", "2", "--node-rank", "0", "--master-port",
                     str(free_port()), "--device", "cpu", "--connect-timeout", "3", timeout=120)
    took = time.monotonic() - start
    assert out.returncode == 1
    assert "node 0 waited 3 s for the other nodes (1/2 joined)" in out.stderr, out.stderr
    assert took < 3 + 60  # the wait plus start-up of two workers on a loaded machine, not the 600 s default


def test_hccl_connect_timeout_must_match_on_every_node(tiny, tmp_path):
    port = free_port()
    common = ("--npus", "1", "--nnodes", "2", "--master-port", str(port), "--device", "cpu", "--connect-timeout", "60")
    nodes = [tiny.popen(tmp_path / f"node{r}", *common, "--node-rank", str(r), "--env",
                        f"HCCL_CONNECT_TIMEOUT={600 * (r + 1)}") for r in (0, 1)]
    outs = [p.communicate(timeout=240) for p in nodes]
    for p, (_, err) in zip(nodes, outs):
        assert p.returncode == 1, err
        assert "HCCL_CONNECT_TIMEOUT is not the same on every node (node 0=600, node 1=1200)" in err, err


def test_pre_launch_checks_stop_a_busy_master_port(tiny, tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = tiny.train(tmp_path / "run", "--npus", "2", "--device", "cpu", "--master-port", str(port))
    assert out.returncode == 1
    assert f"pre-launch checks failed: master-port: port {port} is in use" in out.stderr
    assert not (tmp_path / "run" / "logs").exists()


def test_dry_run_prints_every_node_and_launches_nothing(tiny, tmp_path):
    wd = tmp_path / "run"
    out = tiny.train(wd, "--npus", "8", "--nnodes", "2", "--master-addr", "10.0.0.1", "--master-port", "29501",
                     "--device", "cpu", "--dry-run")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "# node 0:" in text and "# node 1:" in text
    assert "--nproc-per-node=8 --nnodes=2 --node-rank=0 --master-addr=10.0.0.1 --master-port=29501" in text
    assert "--node-rank=1 --master-addr=10.0.0.1" in text and "--rdzv-conf=timeout=60" in text
    assert "-m npuport.launch.worker --bind-cores --same-env=HCCL_CONNECT_TIMEOUT" in text
    assert not wd.exists()


def test_dry_run_elastic(tiny, tmp_path):
    out = tiny.train(tmp_path / "run", "--npus", "4", "--nnodes", "1:3", "--rdzv-endpoint", "10.0.0.1:29400",
                     "--rdzv-id", "job7", "--device", "cpu", "--connect-timeout", "30", "--dry-run", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data["nodes"]) == 1 and data["nodes"][0]["node"] == "every node"
    cmd = data["nodes"][0]["command"]
    for opt in ("--nnodes=1:3", "--rdzv-backend=c10d", "--rdzv-endpoint=10.0.0.1:29400", "--rdzv-id=job7",
                "--rdzv-conf=join_timeout=30,read_timeout=30"):
        assert opt in cmd


# --- the NPU environment -------------------------------------------------------------------------------------

def test_find_cann_order(tmp_path, monkeypatch):
    from npuport.errors import UsageError
    from npuport.launch.npu_env import find_cann

    home = tmp_path / "home"
    std = fake_cann(home, "7.0.0")  # ~/Ascend/ascend-toolkit: a standard path
    other = fake_cann(tmp_path / "opt", "8.0.RC1")
    env = {"HOME": str(home)}
    found = find_cann(None, env)
    assert found.found_by == "standard path" and found.version == "7.0.0" and found.set_env == std / "set_env.sh"
    found = find_cann(None, {**env, "ASCEND_TOOLKIT_HOME": str(other / "latest")})
    assert found.found_by == "ASCEND_TOOLKIT_HOME" and found.version == "8.0.RC1" and found.home == other / "latest"
    found = find_cann(str(std), {**env, "ASCEND_TOOLKIT_HOME": str(other / "latest")})
    assert found.found_by == "--cann" and found.version == "7.0.0"
    assert find_cann(None, {"HOME": str(tmp_path / "empty")}) is None or Path("/usr/local/Ascend").exists()
    with pytest.raises(UsageError, match="no set_env.sh"):
        find_cann(str(tmp_path / "nothing"), env)


def test_npu_env_reaches_every_rank(tmp_path):
    """CANN's set_env.sh (sourced by bash), the recipe's NPU variables, --env and visible devices, in 2 ranks."""
    from npuport.launch.job import LaunchOptions, execute, plan

    kit = fake_cann(tmp_path)
    src = tmp_path / "src"
    write(src / "tiny_train.py", TINY_TRAIN)
    wd = tmp_path / "run"
    opts = LaunchOptions(Topology(2, master_port=free_port(), connect_timeout=30), cann=str(kit / "latest"),
                         env={"HCCL_CONNECT_TIMEOUT": "1800"})
    env = {"NPUPORT_DEVICE": "cpu", "PYTHONPATH": os.pathsep.join([str(src), str(REPO)])}
    p = plan(sys.executable, "tiny_train", ["--work-dir", str(wd), "--max-iters", "2"], "npu", env, opts, wd,
             {"TASK_QUEUE_ENABLE": "1", "HCCL_CONNECT_TIMEOUT": "1200"})
    shown = p.describe()
    assert shown.startswith(f"source {kit / 'set_env.sh'} && ")
    assert "ASCEND_RT_VISIBLE_DEVICES=0,1" in shown and "HCCL_CONNECT_TIMEOUT=1800" in shown
    assert p.device_env.sourced["FAKE_CANN_SHELL"] == "bash"  # a real bash sourced it
    execute(p, opts, wd, progress=False)
    for r in ranks(wd):
        e = r["env"]
        assert e["FAKE_CANN_VAR"] == "sourced-by-bash" and e["LD_LIBRARY_PATH"].startswith(str(kit / "latest" / "lib64"))
        assert e["TASK_QUEUE_ENABLE"] == "1" and e["HCCL_CONNECT_TIMEOUT"] == "1800"  # --env over the recipe
        assert e["ASCEND_RT_VISIBLE_DEVICES"] == "0,1" and e["NPUPORT_CORES"]


def test_npu_without_cann_is_a_clear_failure(tmp_path):
    from npuport.errors import CheckFailed
    from npuport.launch.npu_env import device_env

    if Path("/usr/local/Ascend/ascend-toolkit").exists():
        pytest.skip("this machine has CANN at the standard path")
    with pytest.raises(CheckFailed, match="CANN not found.*--cann PATH"):
        device_env("npu", 8, {}, {}, None, None, {"HOME": str(tmp_path)})


def test_dry_run_needs_no_workspace_no_torch_npu_and_no_cann(tmp_path):
    """The launch plan of an 8-NPU run, printed on a machine that has none of it (a CPU laptop)."""
    out = run_cli("train", "gcnet", "--workspace", str(tmp_path / "not-set-up"), "--device", "npu", "--npus", "8",
                  "--dry-run", env={"ASCEND_TOOLKIT_HOME": "", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("source /usr/local/Ascend/ascend-toolkit/latest/set_env.sh && ")
    assert "--nproc-per-node=8" in out.stdout and "ASCEND_RT_VISIBLE_DEVICES=0,1,2,3,4,5,6,7" in out.stdout
    assert "TASK_QUEUE_ENABLE=1" in out.stdout and str(tmp_path / "not-set-up" / "env" / "bin" / "python") in out.stdout
    assert "is not set up" in out.stderr
    assert not (tmp_path / "not-set-up").exists()  # a dry run writes nothing


def test_a_file_as_workspace_is_one_line_exit_2(tmp_path):
    afile = tmp_path / "passwd"
    afile.write_text("root:x:0:0\n")
    for command in ("setup", "train"):
        out = run_cli(command, "gcnet", "--workspace", str(afile), "--device", "cpu")
        assert out.returncode == 2, out.stderr
        assert "a file, not a folder" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert afile.read_text() == "root:x:0:0\n"


def test_warmup_iters_reaches_the_driver_and_bad_values_are_usage_errors(tmp_path):
    """--warmup-iters sets the FPS warm-up the driver's timing reads (the recipe's otherwise); < 0 is exit 2."""
    common = ("train", "gcnet", "--workspace", str(tmp_path / "ws"), "--device", "cpu", "--dry-run")
    default = run_cli(*common)
    assert default.returncode == 0, default.stderr
    assert "NPUPORT_WARMUP_ITERS=5" in default.stdout  # recipes/gcnet: warmup_iters = 5
    chosen = run_cli(*common, "--warmup-iters", "1")
    assert chosen.returncode == 0 and "NPUPORT_WARMUP_ITERS=1" in chosen.stdout, chosen.stderr
    bad = run_cli(*common, "--warmup-iters", "-1")
    assert bad.returncode == 2 and "--warmup-iters" in bad.stderr
