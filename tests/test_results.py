"""The results stage: FPS arithmetic, results.json, the reference table and the progress bar."""

from __future__ import annotations

import io
import json
import math
import os
import threading
import time
from pathlib import Path

import pytest

from npuport.errors import NpuportError
from npuport.recipe.model import Reference
from npuport.results.fps import compute_fps, read_metrics
from npuport.results.progress import Progress, follow
from npuport.results.report import build_results, losses_finite, mask_rows_note, read_results, write_results
from npuport.results.table import format_table


def rec(i: int, time_s: float, samples: int = 2, world: int = 1, loss: float | None = 1.0) -> dict:
    return {"iter": i, "time": time_s, "samples": samples, "world_size": world, "loss": loss}


def test_fps_skips_warmup_and_multiplies_world_size() -> None:
    records = [rec(1, 10.0, 4, 8), rec(2, 5.0, 4, 8)] + [rec(i, 0.5, 4, 8) for i in range(3, 7)]
    result = compute_fps(records, warmup_iters=2)
    assert result.iters_timed == 4 and result.seconds == pytest.approx(2.0)
    assert result.samples_per_device == 16 and result.world_size == 8
    assert result.fps == pytest.approx(16 * 8 / 2.0)  # the slow warm-up iterations do not count


def test_fps_counts_only_the_iterations_that_ran() -> None:
    """An epoch of 100 iterations stopped after 12: FPS divides the 7 timed ones' samples by their time."""
    records = [rec(i, 0.25 if i > 5 else 3.0, samples=16) for i in range(1, 13)]
    result = compute_fps(records, warmup_iters=5)
    assert result.fps == pytest.approx(7 * 16 / (7 * 0.25))
    assert result.fps == pytest.approx(64.0)


def test_fps_with_uneven_last_batch() -> None:
    records = [rec(1, 1.0, 32), rec(2, 1.0, 32), rec(3, 0.5, 8)]
    assert compute_fps(records, 1).fps == pytest.approx(40 / 1.5)


@pytest.mark.parametrize("records, warmup, match", [
    ([], 0, "no iteration metrics"),
    ([rec(i, 1.0) for i in range(5)], 5, "--max-iters 15"),
    ([rec(1, 1.0), rec(2, 1.0, world=2)], 0, "world size changed"),
    ([rec(1, 0.0), rec(2, 0.0)], 0, "no measurable time"),
])
def test_fps_errors(records: list[dict], warmup: int, match: str) -> None:
    with pytest.raises(NpuportError, match=match):
        compute_fps(records, warmup)


def test_read_metrics(tmp_path: Path) -> None:
    path = tmp_path / "npuport-metrics.jsonl"
    path.write_text("\n".join(json.dumps(rec(i, 0.1)) for i in range(1, 4)) + '\n{"iter": 4, "ti')
    assert [r["iter"] for r in read_metrics(path)] == [1, 2, 3]  # the cut-short last line is left out
    path.write_text(json.dumps(rec(1, 0.1)) + '\n{"iter": 2}\n')
    with pytest.raises(NpuportError, match=r"npuport-metrics.jsonl:2: expected"):
        read_metrics(path)
    with pytest.raises(NpuportError, match="no metrics file"):
        read_metrics(tmp_path / "missing.jsonl")


def test_results_fields_and_atomic_write(tmp_path: Path) -> None:
    records = [rec(1, 2.0, loss=None), rec(2, 1.0, loss=2.5), rec(3, 1.0, loss=1.5)]
    data = build_results("solov1", "cpu", 1, 2, records, 1, {"segm_mAP": 0.31, "bbox_mAP": None},
                         {"torch": "2.13.0", "mmcv": "1.3.8"}, "ab" * 32, ["npuport", "train", "solov1"])
    assert data["fps"] == pytest.approx(4 / 2.0) and data["iters"] == 3 and data["warmup_iters"] == 1
    assert data["loss_first"] == 2.5 and data["loss_last"] == 1.5 and data["losses_finite"] is True
    assert data["segm_mAP"] == 0.31 and "bbox_mAP" not in data and "acc1" not in data
    assert data["versions"]["mmcv"] == "1.3.8" and data["lock_hash"] == "ab" * 32
    assert data["command"] == ["npuport", "train", "solov1"] and data["created"].endswith("+00:00")
    assert "mask_rows" not in data  # no static mask head logged its rows

    path = tmp_path / "work" / "results.json"
    write_results(path, data)
    assert read_results(path) == data
    assert os.listdir(path.parent) == ["results.json"]


def test_mask_rows_padding_and_positives_left_out() -> None:
    """A static mask head's logged rows become a summary, and the train output says what to change."""
    info = {"mask_pos_slots": 128, "mask_pos_slots_option": "model.train_cfg.rcnn.mask_pos_slots"}
    records = [{**rec(i, 1.0), "mask_rows": rows, "mask_positives": rows} for i, rows in enumerate([13.0, 18.0, 14.0], 1)]
    data = build_results("gcnet", "cpu", 1, 2, records, 1, info, {}, "ab" * 32, [])
    assert data["mask_rows"] == {"slots": 128, "option": "model.train_cfg.rcnn.mask_pos_slots", "iters": 3,
                                 "max": 18.0, "mean": 15.0, "positives_max": 18.0, "over": 0}
    note = mask_rows_note(data["mask_rows"])
    assert note.startswith("mask head: at most 18 of its 128 rows per batch held a positive (mean 15.0); the rest is "
                           "padding") and "`npuport train ... -- --cfg-options model.train_cfg.rcnn.mask_pos_slots=N`" in note

    records[1].update(mask_rows=128.0, mask_positives=151.0)  # a batch with more positives than rows
    rows = build_results("gcnet", "cpu", 1, 2, records, 1, info, {}, "ab" * 32, [])["mask_rows"]
    assert (rows["over"], rows["positives_max"], rows["max"]) == (1, 151.0, 128.0)
    assert mask_rows_note(rows).startswith("mask head: 1 of 3 batches had more positives than its 128 rows (up to 151), "
                                           "and the mask loss left the rest out: raise model.train_cfg.rcnn.mask_pos_slots")
    half = {**data["mask_rows"], "max": 100.0}
    assert mask_rows_note(half) == "mask head: at most 100 of its 128 rows per batch held a positive (mean 15.0)"


def test_failed_replace_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    target.mkdir()
    (target / "keep").write_text("x")  # os.replace cannot put a file over a folder
    with pytest.raises(OSError):
        write_results(target, {"fps": 1.0})
    assert os.listdir(tmp_path) == ["results.json"] and os.listdir(target) == ["keep"]


def test_atomic_write_leaves_old_file_when_serialising_fails(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_results(path, {"fps": 1.0})
    with pytest.raises(TypeError):
        write_results(path, {"fps": object()})
    assert json.loads(path.read_text()) == {"fps": 1.0} and os.listdir(tmp_path) == ["results.json"]


def test_non_finite_losses() -> None:
    records = [rec(1, 1.0, loss=1.0), rec(2, 1.0, loss=math.nan)]
    assert not losses_finite(records) and losses_finite([rec(1, 1.0, loss=None)])
    data = build_results("r", "cpu", 1, 2, records, 0, {}, {}, "", [])
    assert data["losses_finite"] is False and data["loss_last"] is None
    json.dumps(data, allow_nan=False)


REFERENCES = [Reference("gpu", 8, 140.0, 0.33), Reference("npu", 1, 18.5, None), Reference("npu", 8, 133.27, 0.329)]


def test_table_beside_references_with_ratio() -> None:
    table = format_table({"recipe": "solov1", "device": "npu", "world_size": 8, "fps": 120.0, "segm_mAP": 0.312},
                         REFERENCES, "segm_mAP")
    for figure in ("140.00", "18.50", "133.27", "0.329", "0.33", "120.00", "0.312", "segm_mAP"):
        assert figure in table
    assert "0.90x" in table.splitlines()[-1] and "npu 8p" in table.splitlines()[-1]
    cuda = format_table({"device": "cuda", "world_size": 8, "fps": 70.0}, REFERENCES, "segm_mAP")
    assert "0.50x" in cuda and "gpu 8p" in cuda
    assert "\x1b" not in table


def test_table_says_no_reference() -> None:
    table = format_table({"device": "cpu", "world_size": 1, "fps": 3.0}, REFERENCES, "acc1")
    assert table.splitlines()[-1] == "FPS vs reference: no reference for cpu 1p"
    assert "no reference" in format_table({"device": "npu", "world_size": 2, "fps": 3.0}, REFERENCES, "acc1")


def test_progress_plain_lines_when_not_a_tty() -> None:
    stream = io.StringIO()
    bar = Progress(100, stream=stream, every_percent=25)
    for i in range(1, 101):
        bar.update(i, loss=1.0 / i, fps=50.0)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["25/100", "50/100", "75/100", "100/100"]
    assert "\r" not in stream.getvalue() and "fps 50.0" in lines[-1]


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_line_on_a_tty() -> None:
    stream = FakeTty()
    bar = Progress(10, stream=stream)
    for i in range(1, 11):
        bar.update(i, loss=0.5, fps=None)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 10 and text.count("\n") == 1 and "10/10" in text


def test_follow_tails_a_growing_file(tmp_path: Path) -> None:
    path = tmp_path / "npuport-metrics.jsonl"
    stream, stop = io.StringIO(), threading.Event()
    thread = threading.Thread(target=lambda: results.append(follow(path, 4, stop, stream, interval=0.01)))
    results: list[int] = []
    thread.start()
    time.sleep(0.05)  # the file does not exist yet: follow waits for it
    with open(path, "w") as f:
        for i in range(1, 5):
            line = json.dumps(rec(i, 0.5, samples=8, world=2))
            f.write(line[:10])
            f.flush()
            time.sleep(0.02)  # a half-written line must wait for its end
            f.write(line[10:] + "\n")
            f.flush()
    stop.set()
    thread.join(5)
    assert results == [4]
    last = stream.getvalue().splitlines()[-1]
    assert "4/4" in last and "fps 32.0" in last
