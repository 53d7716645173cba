"""`npuport train --launcher slurm` on a real single-node Slurm (Debian's slurm-wlm) that the fixture starts on
localhost: munged, slurmctld and slurmd with a minimal slurm.conf in a temporary folder, stopped at the end.

Needs root and `apt-get install -y slurm-wlm munge`; skips with the reason otherwise. MinJobAge=6 keeps
`sbatch --wait` polling every 2 s (it polls at 2, 8, 32 s ... while sleep < MinJobAge / 2).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from npuport.launch.rendezvous import free_port
from test_launch import Tiny, make_tiny, ranks

pytestmark = pytest.mark.slow

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo", "scontrol")

SLURM_CONF = """\
ClusterName=npuporttest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
AuthInfo=socket={root}/munge.sock
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=6
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def stop(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    missing = [d for d in DAEMONS if shutil.which(d) is None]
    if missing:
        pytest.skip(f"Slurm is not installed ({', '.join(missing)} missing): apt-get install -y slurm-wlm munge")
    if os.geteuid() != 0:
        pytest.skip("starting slurmd needs root")
    root = tmp_path_factory.mktemp("slurm")
    root.chmod(0o700)  # munged refuses a key or socket folder others can write
    for sub in ("state", "spool"):
        (root / sub).mkdir()
    key = root / "munge.key"
    subprocess.run(["mungekey", "-c", "-k", str(key)], check=True, capture_output=True)
    key.chmod(0o600)
    conf = root / "slurm.conf"
    conf.write_text(SLURM_CONF.format(root=root, ctld_port=free_port(), d_port=free_port(), cpus=os.cpu_count()))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs: list[subprocess.Popen] = []
    logs = open(root / "daemons.out", "w")
    try:
        procs.append(subprocess.Popen(["munged", "-F", "-f", f"--key-file={key}", f"--socket={root}/munge.sock",
                                       f"--pid-file={root}/munged.pid", f"--log-file={root}/munged.log",
                                       f"--seed-file={root}/munged.seed"], stdout=logs, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 10
        while not (root / "munge.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        procs.append(subprocess.Popen(["slurmctld", "-D", "-c", "-f", str(conf)], env=env, stdout=logs,
                                      stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(["slurmd", "-D", "-N", "localhost", "-f", str(conf)], env=env, stdout=logs,
                                      stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 30
        state = ""
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            state = out.stdout.strip()
            if state == "idle":
                break
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.5)
        if state != "idle":
            logs.flush()
            stop(procs)
            pytest.skip(f"the local Slurm did not come up (node state {state!r}); see {root / 'daemons.out'}")
        yield {"SLURM_CONF": str(conf)}
    finally:
        subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True)
        stop(procs)
        logs.close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Tiny:
    return make_tiny(tmp_path_factory.mktemp("tiny"))


def test_slurm_job_on_the_local_cluster(slurm, tiny, tmp_path):
    wd = tmp_path / "run"
    start = time.monotonic()
    out = tiny.train(wd, "--launcher", "slurm", "--npus", "2", "--nodes", "1", "--device", "cpu", "--time", "5",
                     "--partition", "debug", "--slurm-args", "--comment=npuport-test", "--connect-timeout", "30",
                     "--json", env=slurm, timeout=120)
    took = time.monotonic() - start
    assert out.returncode == 0, out.stdout + out.stderr + "".join(p.read_text() for p in wd.glob("slurm-*.out"))
    script = (wd / "npuport-slurm.sh").read_text()
    for line in ("#SBATCH --nodes=1", "#SBATCH --ntasks-per-node=1", "#SBATCH --partition=debug",
                 "#SBATCH --time=5", "#SBATCH --comment=npuport-test", f"#SBATCH --output={wd}/slurm-%j.out"):
        assert line in script
    assert "--gres" not in script  # cpu: no GRES asked for
    assert '"--node-rank=${SLURM_NODEID}"' in script and '"--nnodes=${SLURM_JOB_NUM_NODES}"' in script
    data = json.loads(out.stdout)
    assert data["command"][:3] == ["sbatch", "--wait", "--parsable"]
    got = ranks(wd)
    assert [r["rank"] for r in got] == [0, 1] and {r["world_size"] for r in got} == {2}
    assert {r["ranks_sum"] for r in got} == {1.0}
    assert data["results"]["world_size"] == 2 and data["results"]["fps"] > 0
    job_out = next(wd.glob("slurm-*.out")).read_text()
    assert "master localhost:" in job_out  # the master came from Slurm's node list
    assert took < 90


def test_slurm_dry_run_asks_for_npus(tiny, tmp_path):
    """The script for 2 nodes x 8 NPUs, shown but not submitted (no Slurm needed)."""
    from npuport.launch.job import LaunchOptions, plan
    from npuport.launch.plan import Topology
    from npuport.launch.slurm import SlurmOptions
    from test_launch import fake_cann

    kit = fake_cann(tmp_path / "opt")
    opts = LaunchOptions(Topology(8, 2, master_addr="auto"), "slurm", SlurmOptions(gres_name="ascend"),
                         cann=str(kit / "latest"))
    p = plan("/ws/env/bin/python", "npuport.drivers.genet_train", ["--work-dir", "/shared/w"], "npu", {}, opts,
             tmp_path / "w", {"HCCL_CONNECT_TIMEOUT": "1200"})
    text = p.describe()
    assert "#SBATCH --gres=ascend:8" in text and "#SBATCH --nodes=2" in text
    assert f"source {kit / 'set_env.sh'}" in text and "export HCCL_CONNECT_TIMEOUT=1200" in text
    assert "export ASCEND_RT_VISIBLE_DEVICES=0,1,2,3,4,5,6,7" in text
    assert 'scontrol show hostnames "$SLURM_JOB_NODELIST"' in text
    assert not (tmp_path / "w").exists()
