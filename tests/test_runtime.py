"""npuport.runtime: device choice, distributed backend, and the timing record."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from npuport import runtime
from npuport.errors import UsageError
from npuport.runtime import timing


@pytest.fixture(autouse=True)
def fresh_device(monkeypatch):
    monkeypatch.delenv("NPUPORT_DEVICE", raising=False)
    runtime.reset()
    yield
    runtime.reset()


def test_import_is_cheap():
    code = "import sys, npuport.runtime; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_cpu_machine_picks_cpu_and_gloo():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available() or runtime.torch_npu() is not None:
        pytest.skip("machine has an accelerator")
    assert runtime.device_type() == "cpu"
    assert runtime.dist_backend() == "gloo"
    assert runtime.device() == torch.device("cpu")
    assert runtime.device(3) == torch.device("cpu")
    assert runtime.is_available() is False
    assert runtime.device_count() == 1
    assert runtime.current_device() == 0
    runtime.set_device(0)
    runtime.synchronize()
    assert runtime.max_memory_allocated(torch.device("cpu")) == 0 and runtime.memory_allocated() == 0
    runtime.reset_peak_memory_stats()
    runtime.empty_cache()


@pytest.mark.parametrize("kind, backend", [("cpu", "gloo"), ("cuda", "nccl"), ("npu", "hccl")])
def test_override_sets_type_and_backend(monkeypatch, kind, backend):
    monkeypatch.setenv("NPUPORT_DEVICE", kind)
    if kind == "npu":  # no torch_npu here: the override must be refused, naming what to install
        monkeypatch.setattr(runtime, "torch_npu", lambda: None)
        with pytest.raises(UsageError, match="torch_npu"):
            runtime.device_type()
        return
    assert runtime.device_type() == kind
    assert runtime.dist_backend() == backend


def test_override_index_from_local_rank(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("NPUPORT_DEVICE", "cuda")
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert runtime.device() == torch.device("cuda", 3)
    assert runtime.device(1) == torch.device("cuda", 1)


def test_bad_override_is_a_usage_error(monkeypatch):
    monkeypatch.setenv("NPUPORT_DEVICE", "tpu")
    with pytest.raises(UsageError, match="NPUPORT_DEVICE"):
        runtime.device_type()


def test_choice_is_cached_until_reset(monkeypatch):
    monkeypatch.setenv("NPUPORT_DEVICE", "cuda")
    assert runtime.device_type() == "cuda"
    monkeypatch.setenv("NPUPORT_DEVICE", "cpu")
    assert runtime.device_type() == "cuda"
    runtime.reset()
    assert runtime.device_type() == "cpu"


def test_torch_npu_import_keeps_autoload_off(monkeypatch):
    monkeypatch.delenv("TORCH_DEVICE_BACKEND_AUTOLOAD", raising=False)
    runtime._state.pop("torch_npu", None)
    runtime.torch_npu()
    import os

    assert os.environ["TORCH_DEVICE_BACKEND_AUTOLOAD"] == "0"


def test_autocast_and_scaler_on_cpu(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("NPUPORT_DEVICE", "cpu")
    layer = torch.nn.Linear(4, 4)
    with runtime.autocast():
        out = layer(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16
    scaler = runtime.GradScaler(init_scale=128.0)
    assert scaler.get_scale() == 128.0


# ------------------------------------------------------------------------------ timing


class LogBuffer:
    def __init__(self):
        self.val_history = {}


class Logger:
    def __init__(self):
        self.lines = []

    def info(self, line):
        self.lines.append(line)


class FakeRunner:
    """The attributes of an mmcv runner that timing.record reads."""

    def __init__(self, work_dir):
        self.work_dir = str(work_dir)
        self.mode = "train"
        self.iter = 0
        self.outputs = {}
        self.log_buffer = LogBuffer()
        self.logger = Logger()

    def step(self, seconds, samples=2, loss=1.5, **log_vars):
        """One iteration as IterTimerHook leaves it: time in log_buffer, outputs set."""
        self.outputs = {"num_samples": samples, "log_vars": {"loss": loss, **log_vars}}
        self.log_buffer.val_history.setdefault("time", []).append(seconds)
        timing.record(self)
        self.iter += 1


@pytest.fixture
def timing_env(monkeypatch):
    monkeypatch.setenv("NPUPORT_WARMUP_ITERS", "2")
    monkeypatch.setenv("NPUPORT_FPS_EVERY", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "0")


def test_fps_skips_warmup_and_counts_world(tmp_path, timing_env):
    runner = FakeRunner(tmp_path)
    for seconds in (9.0, 7.0, 0.5, 0.5, 1.0, 0.5):  # two slow warm-up iterations
        runner.step(seconds, samples=2)
    rec = timing.recorder(runner)
    # 4 measured iterations, 2 samples each on 4 devices, in 2.5 s
    assert rec.fps() == pytest.approx(2 * 4 * 4 / 2.5)
    summary = timing.close(runner)
    assert summary["iters"] == 6 and summary["warmup_iters"] == 2
    assert summary["mean_iter_time"] == pytest.approx(2.5 / 4)
    rows = [json.loads(line) for line in (tmp_path / timing.METRICS_FILE).read_text().splitlines()]
    assert [row["iter"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0] == {"iter": 1, "time": 9.0, "samples": 2, "world_size": 4, "loss": 1.5}
    fps_lines = [line for line in runner.logger.lines if line.startswith("npuport-fps ")]
    assert fps_lines[0] == "npuport-fps iter=4 fps=16.000 world_size=4"  # after 2 measured iterations
    assert fps_lines[-1].endswith("final=1")


def test_metrics_carry_the_iterations_cpu_seconds(tmp_path, timing_env):
    """Each row after the first has the process's CPU seconds of its iteration: busy work counts, a wait does not."""
    runner = FakeRunner(tmp_path)
    runner.step(0.1)
    start = time.process_time()
    while time.process_time() - start < 0.3:  # an iteration that computes
        sum(range(1000))
    runner.step(0.3)
    time.sleep(0.3)  # an iteration that waits (for data, for a device, for a busy machine)
    runner.step(0.3)
    rows = [json.loads(line) for line in (tmp_path / timing.METRICS_FILE).read_text().splitlines()]
    assert "cpu" not in rows[0]
    assert 0.3 <= rows[1]["cpu"] < 1.0 and rows[2]["cpu"] < 0.1, rows


def test_metrics_carry_the_rows_a_static_step_logged(tmp_path, timing_env):
    """mask_rows / mask_positives logged beside the losses reach the metrics line; other log vars do not."""
    runner = FakeRunner(tmp_path)
    runner.step(0.1, mask_rows=18.0, mask_positives=21.0, loss_mask=0.4, acc=91.0)
    runner.step(0.1)
    rows = [json.loads(line) for line in (tmp_path / timing.METRICS_FILE).read_text().splitlines()]
    assert rows[0]["mask_rows"] == 18.0 and rows[0]["mask_positives"] == 21.0
    assert not {"loss_mask", "acc"} & set(rows[0]) and "mask_rows" not in rows[1]


def test_no_fps_during_warmup(tmp_path, timing_env):
    runner = FakeRunner(tmp_path)
    runner.step(3.0)
    runner.step(3.0)
    assert timing.recorder(runner).fps() is None
    assert not [line for line in runner.logger.lines if "npuport-fps" in line]


def test_same_iteration_recorded_once(tmp_path, timing_env):
    runner = FakeRunner(tmp_path)
    runner.outputs = {"num_samples": 2, "log_vars": {"loss": 1.0}}
    runner.log_buffer.val_history["time"] = [0.7]
    assert timing.record(runner) == 0.7
    assert timing.record(runner) is None  # the fallback hook after a rewritten IterTimerHook
    assert len(timing.recorder(runner).times) == 1


def test_other_ranks_write_nothing(tmp_path, timing_env, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    runner = FakeRunner(tmp_path)
    for _ in range(4):
        runner.step(0.5)
    assert not (tmp_path / timing.METRICS_FILE).exists()
    assert timing.recorder(runner).fps() == pytest.approx(2 * 4 * 2 / 1.0)


def test_own_clock_without_log_buffer(tmp_path, timing_env):
    runner = FakeRunner(tmp_path)
    runner.log_buffer = None
    runner.outputs = {"num_samples": 1}
    assert timing.record(runner) is None  # no start point for the first iteration
    runner.iter = 1
    elapsed = timing.record(runner)
    assert elapsed is not None and 0 <= elapsed < 1
    assert json.loads((tmp_path / timing.METRICS_FILE).read_text())["loss"] is None


def test_val_mode_is_ignored(tmp_path, timing_env):
    runner = FakeRunner(tmp_path)
    runner.mode = "val"
    runner.log_buffer.val_history["time"] = [1.0]
    assert timing.record(runner) is None


def test_truncated_coco_annotations_name_the_file(tmp_path):
    pytest.importorskip("pycocotools")
    from npuport.errors import UsageError
    from npuport.runtime.coco import COCO

    ann = tmp_path / "instances_train2017.json"
    ann.write_text('{"images": [{"id": 1, "file_name": "a.jpg"')
    with pytest.raises(UsageError, match=r"instances_train2017\.json: not valid JSON .* line 1 column \d+"):
        COCO(str(ann))
