"""`npuport doctor` through the real CLI: real package metadata (a tiny torch_npu dist-info on PYTHONPATH), a
fake CANN folder whose set_env.sh is a real script, real sockets on loopback and a pip index served on it."""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
from importlib.metadata import version
from pathlib import Path

import pytest

from conftest import run_cli, write
from npuport.launch.rendezvous import free_port
from test_launch import fake_cann

TORCH = version("torch")
TORCH_BASE = ".".join(TORCH.split("+")[0].split(".")[:3])


def fake_torch_npu(site: Path, ver: str) -> Path:
    """A real (tiny) dist-info for `torch_npu`: importlib.metadata reads it like an installed one."""
    write(site / f"torch_npu-{ver}.dist-info" / "METADATA", f"Metadata-Version: 2.1\nName: torch_npu\nVersion: {ver}\n")
    (site / f"torch_npu-{ver}.dist-info" / "RECORD").write_text("")
    return site


@pytest.fixture
def index_url():
    """A pip index on loopback (a real HTTP server) for the pip-index check."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def base_env(tmp_path: Path, index: str | None = None) -> dict:
    env = {"HOME": str(tmp_path / "home"), "PIP_INDEX_URL": index or f"http://127.0.0.1:{free_port()}/simple/",
           "PIP_CONFIG_FILE": os.devnull, "ASCEND_TOOLKIT_HOME": "", "NPUPORT_DEVICE": ""}
    return env


def doctor(tmp_path, *args, env=None):
    out = run_cli("doctor", "--json", "--work-dir", str(tmp_path), *args, env={**base_env(tmp_path), **(env or {})})
    data = json.loads(out.stdout)
    return out, data, {c["name"]: c for c in data["checks"]}


@pytest.mark.skipif(os.path.exists("/usr/local/Ascend/ascend-toolkit"), reason="this machine has CANN installed")
def test_missing_cann_and_torch_npu_mismatch_fail_with_their_fixes(tmp_path):
    site = fake_torch_npu(tmp_path / "site", "2.1.0.post3")
    out, data, checks = doctor(tmp_path, env={"PYTHONPATH": str(site)})
    assert out.returncode == 1 and data["ok"] is False
    assert data["device"] == "npu"  # torch_npu is installed: the launch would target the NPU
    tn = checks["torch_npu"]
    assert tn["status"] == "fail"
    assert f"torch_npu 2.1.0.post3 is built for torch 2.1.0 but torch is {TORCH}" in tn["detail"]
    assert "pip install torch==2.1.0" in tn["detail"]
    cann = checks["cann"]
    assert cann["status"] == "fail" and "CANN not found" in cann["detail"] and "--cann PATH" in cann["detail"]
    assert checks["pip-index"]["status"] == "warn" and "PIP_INDEX_URL" in checks["pip-index"]["detail"]


def test_matching_torch_npu_and_cann_found(tmp_path):
    site = fake_torch_npu(tmp_path / "site", f"{TORCH_BASE}.post1")
    kit = fake_cann(tmp_path / "opt", "8.0.RC3")
    out, data, checks = doctor(tmp_path, "--cann", str(kit / "latest"), env={"PYTHONPATH": str(site)})
    assert checks["torch_npu"]["status"] == "ok", checks["torch_npu"]
    assert checks["cann"]["status"] == "ok" and "CANN 8.0.RC3" in checks["cann"]["detail"]
    assert "--cann" in checks["cann"]["detail"]
    if not list(Path("/dev").glob("davinci[0-9]*")):
        assert checks["devices"]["status"] == "fail" and "0 NPU(s)" in checks["devices"]["detail"]
        assert out.returncode == 1


def test_cpu_machine_is_healthy(tmp_path, index_url):
    port = free_port()
    out = run_cli("doctor", "--device", "cpu", "--npus", "2", "--master-port", str(port), "--work-dir", str(tmp_path),
                  env=base_env(tmp_path, index_url))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["check", "status", "detail"]
    rows = {line.split()[0]: line.split()[1] for line in lines[2:]}
    assert set(rows) == {"torch", "torch_npu", "cann", "devices", "master-addr", "master-port", "hccl-timeout",
                         "disk", "pip-index"}
    assert rows["master-port"] == "ok" and rows["pip-index"] == "ok" and rows["torch"] == "ok"
    assert "fail" not in rows.values()


def test_busy_master_port_fails_with_a_free_one_suggested(tmp_path):
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out, _, checks = doctor(tmp_path, "--device", "cpu", "--npus", "2", "--master-port", str(port))
    assert out.returncode == 1
    assert checks["master-port"]["status"] == "fail"
    assert f"port {port} is in use" in checks["master-port"]["detail"] and "--master-port " in checks["master-port"]["detail"]


def test_worker_node_sees_whether_the_master_answers(tmp_path):
    with socket.socket() as master:
        master.bind(("127.0.0.1", 0))
        master.listen()
        port = master.getsockname()[1]
        _, _, up = doctor(tmp_path, "--device", "cpu", "--nnodes", "2", "--node-rank", "1", "--master-port", str(port))
    _, _, down = doctor(tmp_path, "--device", "cpu", "--nnodes", "2", "--node-rank", "1", "--master-port", str(port))
    assert up["master-port"]["status"] == "ok"
    assert down["master-port"]["status"] == "warn" and "start node 0 first" in down["master-port"]["detail"]
    assert up["master-addr"]["status"] == "warn" and "loopback" in up["master-addr"]["detail"]  # 2 nodes on 127.0.0.1


def test_hccl_timeout_replaced_from_the_shell_is_a_warning(tmp_path):
    kit = fake_cann(tmp_path / "opt")
    _, _, checks = doctor(tmp_path, "--device", "npu", "--cann", str(kit), "--env", "HCCL_CONNECT_TIMEOUT=1200",
                          env={"HCCL_CONNECT_TIMEOUT": "600"})
    hccl = checks["hccl-timeout"]
    assert hccl["status"] == "warn" and "HCCL_CONNECT_TIMEOUT=600 in this shell is replaced by 1200" in hccl["detail"]
