"""`npuport doctor`: check this machine before a launch; each check is ok, warn or fail, with the fix in one line."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from ..launch.device import installed
from ..launch.plan import Topology

OK, WARN, FAIL = "ok", "warn", "fail"
GIB = 1 << 30
DISK_FAIL_GIB, DISK_WARN_GIB = 1, 10
ALL = ("torch", "torch_npu", "cann", "devices", "master-addr", "master-port", "hccl-timeout", "disk", "pip-index")
BEFORE_TRAIN = ("torch", "torch_npu", "cann", "devices", "master-addr", "master-port", "hccl-timeout", "disk")
BEFORE_SLURM = ("torch", "torch_npu", "disk")  # the rest is about the compute nodes, not the submit host


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str  # what was found; for warn and fail, the fix


@dataclass
class DoctorOptions:
    device: str = "cpu"  # the device the launch targets
    topology: Topology = field(default_factory=Topology)
    cann: str | None = None  # --cann PATH
    path: str = "."  # the workspace / work dir whose disk must hold the run
    env: dict[str, str] = field(default_factory=dict)  # the variables npuport sets (recipe npu_env, then --env)
    env_source: dict[str, str] = field(default_factory=dict)  # where each came from, e.g. {"X": "recipe"}
    index_timeout: float = 5.0


@dataclass
class DoctorReport:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    def to_json(self) -> dict:
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks]}

    def format_table(self) -> str:
        from ..table import format_rows

        rows = [(c.name, c.status, c.detail) for c in self.checks]
        return format_rows(("check", "status", "detail"), rows, max_last=10_000)  # the fix is never cut


def base_version(text: str) -> str:
    """'2.1.0.post3' -> '2.1.0', '2.13.0+cpu' -> '2.13.0'."""
    from packaging.version import InvalidVersion, Version

    try:
        release = Version(text).release
    except InvalidVersion:
        return text
    return ".".join(str(n) for n in (*release, 0, 0)[:3])


def check_torch(opts: DoctorOptions) -> Check:
    tv = installed("torch")
    if not tv:
        return Check("torch", FAIL, "torch is not installed: pip install torch (on an NPU server, the version your "
                                    "torch_npu release names)")
    return Check("torch", OK, f"torch {tv}")


def check_torch_npu(opts: DoctorOptions) -> Check:
    tv, nv = installed("torch"), installed("torch_npu")
    if not nv:
        if opts.device == "npu":
            return Check("torch_npu", FAIL, f"torch_npu is not installed: pip install the torch_npu release built "
                                            f"for torch {base_version(tv) or '?'} and your CANN")
        return Check("torch_npu", OK, f"not installed (not needed on {opts.device})")
    if tv and base_version(nv) != base_version(tv):
        return Check("torch_npu", FAIL,
                     f"torch_npu {nv} is built for torch {base_version(nv)} but torch is {tv}: "
                     f"pip install torch=={base_version(nv)}, or install the torch_npu release for torch {base_version(tv)}")
    return Check("torch_npu", OK, f"torch_npu {nv} matches torch {tv}")


def _wants_npu(opts: DoctorOptions) -> bool:
    return opts.device == "npu" or bool(installed("torch_npu"))


def check_cann(opts: DoctorOptions) -> Check:
    from ..errors import UsageError
    from ..launch.npu_env import STANDARD_PATHS, find_cann

    try:
        cann = find_cann(opts.cann)
    except UsageError as exc:
        return Check("cann", FAIL, str(exc))
    if cann is None:
        if not _wants_npu(opts):
            return Check("cann", OK, f"not found (not needed on {opts.device})")
        return Check("cann", FAIL, f"CANN not found (ASCEND_TOOLKIT_HOME unset, nothing at {STANDARD_PATHS[0]}): "
                                   "install the CANN toolkit, export ASCEND_TOOLKIT_HOME, or pass --cann PATH")
    found = f"CANN {cann.version or '(version unknown)'} at {cann.home} (from {cann.found_by}; {cann.set_env.name} "
    nv = installed("torch_npu")
    if not cann.version:
        return Check("cann", WARN, found + "read): no version file found; check it is the CANN your torch_npu "
                                           "release names")
    return Check("cann", OK, found + f"is sourced into every rank){'; torch_npu ' + nv if nv else ''}")


def visible_count(name: str, present: list[str], env: Mapping[str, str]) -> int:
    ids = env.get(name)
    if ids is None or ids == "":
        return len(present)
    return len([i for i in ids.split(",") if i.strip() in present])


def check_devices(opts: DoctorOptions) -> Check:
    n = opts.topology.nproc_per_node
    if opts.device == "npu":
        present = sorted(m.group(1) for p in Path("/dev").glob("davinci*") if (m := re.fullmatch(r"davinci(\d+)", p.name)))
        seen = visible_count("ASCEND_RT_VISIBLE_DEVICES", present, {**os.environ, **opts.env})
        what = "NPU(s) (/dev/davinci*, ASCEND_RT_VISIBLE_DEVICES)"
    elif opts.device == "cuda":
        present = sorted(m.group(1) for p in Path("/dev").glob("nvidia*") if (m := re.fullmatch(r"nvidia(\d+)", p.name)))
        seen = visible_count("CUDA_VISIBLE_DEVICES", present, {**os.environ, **opts.env})
        what = "GPU(s) (/dev/nvidia*, CUDA_VISIBLE_DEVICES)"
    else:
        cores = len(os.sched_getaffinity(0))
        if cores < n:
            return Check("devices", WARN, f"--npus {n} on cpu with {cores} core(s): the ranks share cores; "
                                          f"use --npus {cores} or fewer for timings that mean something")
        return Check("devices", OK, f"cpu: {n} process(es) on {cores} core(s)")
    if seen < n:
        fix = f"use --npus {seen}, or make more devices visible" if seen else "check the driver and the device files"
        return Check("devices", FAIL, f"{seen} {what} visible, --npus {n}: {fix} "
                                      f"({'npu-smi info' if opts.device == 'npu' else 'nvidia-smi'} lists them)")
    return Check("devices", OK, f"{seen} {what} visible for --npus {n}")


def check_master_addr(opts: DoctorOptions) -> Check:
    from ..launch.rendezvous import resolve

    topo = opts.topology
    host = topo.rdzv_host_port[0] if topo.elastic else topo.master_addr
    if not topo.distributed:
        return Check("master-addr", OK, "one process: no master needed")
    addrs = resolve(host)
    if not addrs:
        return Check("master-addr", FAIL, f"{host} does not resolve: give node 0's IP address (--master-addr), or "
                                          f"add {host} to /etc/hosts on every node")
    loop = all(a.startswith("127.") or a == "::1" for a in addrs)
    if loop and topo.nnodes > 1:
        return Check("master-addr", WARN, f"{host} is loopback ({', '.join(addrs)}) with --nnodes {topo.nnodes}: "
                                          "other machines cannot reach it; give node 0's network address")
    return Check("master-addr", OK, f"{host} resolves to {', '.join(addrs)}")


def check_master_port(opts: DoctorOptions) -> Check:
    from ..launch.rendezvous import free_port, is_local, port_free, try_connect

    topo = opts.topology
    if not topo.distributed:
        return Check("master-port", OK, "one process: no port needed")
    host, port = topo.rdzv_host_port if topo.elastic else (topo.master_addr, topo.master_port)
    hosting = is_local(host) if topo.elastic else topo.node_rank == 0
    if hosting:
        if port_free(port):
            return Check("master-port", OK, f"port {port} is free here")
        return Check("master-port", FAIL, f"port {port} is in use on this machine (another run?): pick a free one, "
                                          f"e.g. --master-port {free_port()}, or stop the process that holds it "
                                          f"(ss -ltnp 'sport = :{port}')")
    why = try_connect(host, port, 2.0)
    if not why:
        return Check("master-port", OK, f"the master {host}:{port} accepts connections")
    return Check("master-port", WARN, f"the master {host}:{port} does not answer yet ({why}): start node 0 first; "
                                      f"this node waits up to {topo.connect_timeout:g} s at launch (--connect-timeout)")


def check_hccl_timeout(opts: DoctorOptions) -> Check:
    name = "HCCL_CONNECT_TIMEOUT"
    if opts.device != "npu" and opts.topology.nnodes == 1:
        return Check("hccl-timeout", OK, f"not used on {opts.device} with one node")
    value, shell = opts.env.get(name), os.environ.get(name)
    if value is None and shell is None:
        return Check("hccl-timeout", WARN, f"{name} is unset (HCCL's default applies): set it the same on every "
                                           f"node, e.g. --env {name}=1200")
    if value is not None and shell is not None and shell != value:
        return Check("hccl-timeout", WARN, f"{name}={shell} in this shell is replaced by {value} "
                                           f"({opts.env_source.get(name, 'npuport')}): to keep yours, give "
                                           f"--env {name}={shell} on every node")
    shown = value if value is not None else shell
    src = opts.env_source.get(name, "npuport") if value is not None else "this shell"
    return Check("hccl-timeout", OK, f"{name}={shown} ({src}); every node's value is compared at launch")


def check_disk(opts: DoctorOptions) -> Check:
    path = Path(opts.path).expanduser().resolve()
    while not path.exists():
        path = path.parent
    free = shutil.disk_usage(path).free / GIB
    if free < DISK_FAIL_GIB:
        return Check("disk", FAIL, f"{free:.1f} GiB free under {path}: free space or choose another --work-dir / "
                                   "--workspace (NPUPORT_WORKSPACE)")
    if free < DISK_WARN_GIB:
        return Check("disk", WARN, f"{free:.1f} GiB free under {path}: checkpoints and logs of a full run may need "
                                   f"{DISK_WARN_GIB} GiB or more")
    return Check("disk", OK, f"{free:.0f} GiB free under {path}")


def check_pip_index(opts: DoctorOptions) -> Check:
    import urllib.error
    import urllib.request

    from ..sources.pipconf import index_url

    url = index_url()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=opts.index_timeout) as r:
            status = r.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("pip-index", WARN, f"{url} unreachable ({reason}): setup cannot download; set PIP_INDEX_URL "
                                        "to a reachable mirror, or use `npuport setup --offline` with a filled cache")
    if status >= 400:
        return Check("pip-index", WARN, f"{url} answered HTTP {status}: check PIP_INDEX_URL / pip.conf")
    return Check("pip-index", OK, f"{url} answers (HTTP {status})")


CHECKS: dict[str, Callable[[DoctorOptions], Check]] = {
    "torch": check_torch, "torch_npu": check_torch_npu, "cann": check_cann, "devices": check_devices,
    "master-addr": check_master_addr, "master-port": check_master_port, "hccl-timeout": check_hccl_timeout,
    "disk": check_disk, "pip-index": check_pip_index,
}


def doctor(opts: DoctorOptions, which: tuple[str, ...] = ALL) -> DoctorReport:
    """Run the chosen checks in order; a check that crashes is a fail that says so."""
    out = []
    for name in which:
        try:
            out.append(CHECKS[name](opts))
        except Exception as exc:  # a broken check must not hide the others
            out.append(Check(name, FAIL, f"the check itself failed ({type(exc).__name__}: {exc}); report it"))
    return DoctorReport(out)
