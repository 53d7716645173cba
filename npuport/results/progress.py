"""A progress bar for a training run, fed from its metrics file while it runs."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import TextIO

BAR_WIDTH = 30
FPS_WINDOW = 20  # iterations the live FPS is averaged over


class Progress:
    """One line redrawn in place on a terminal; elsewhere a plain line every `every_percent` percent."""

    def __init__(self, total_iters: int, stream: TextIO | None = None, every_percent: int = 10) -> None:
        self.total = max(1, int(total_iters))
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = max(1, every_percent)
        self.next_percent = self.every
        self.drawn = False

    def line(self, iteration: int, loss: float | None, fps: float | None) -> str:
        done = min(iteration, self.total)
        filled = BAR_WIDTH * done // self.total
        loss_text = "-" if loss is None else f"{loss:.4g}"
        fps_text = "-" if fps is None else f"{fps:.1f}"
        return (f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{self.total} "
                f"{100 * done // self.total:3d}%  loss {loss_text}  fps {fps_text}")

    def update(self, iteration: int, loss: float | None = None, fps: float | None = None) -> None:
        """Show that `iteration` (counted from 1) has finished."""
        if self.tty:
            self.stream.write("\r\x1b[2K" + self.line(iteration, loss, fps))
            self.drawn = True
        else:
            percent = 100 * min(iteration, self.total) // self.total
            if percent < self.next_percent and iteration < self.total:
                return
            self.stream.write(self.line(iteration, loss, fps) + "\n")
            self.next_percent = (percent // self.every + 1) * self.every
        self.stream.flush()

    def close(self) -> None:
        """End the redrawn line so that later output starts on a line of its own."""
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
        self.drawn = False


def follow(metrics_path: Path, total_iters: int, stop_event: threading.Event,
           stream: TextIO | None = None, interval: float = 0.5) -> int:
    """Tail `metrics_path` and update a bar until `stop_event` is set; returns the records seen.

    Meant for a thread beside the training subprocess; the file may not exist yet, lines may arrive
    half-written, and a new run may start it again from empty.
    """
    progress = Progress(total_iters, stream)
    path = Path(metrics_path)
    offset, pending, seen = 0, "", 0
    window: list[tuple[float, float]] = []  # (samples x world size, seconds) of the last iterations
    while True:
        stopping = stop_event.is_set()  # read once more after the stop, then end
        try:
            size = path.stat().st_size
            if size < offset:  # the file was started again
                offset, pending, seen = 0, "", 0
                window.clear()
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
            pending += chunk.decode("utf-8", errors="replace")
        except FileNotFoundError:
            pass
        *lines, pending = pending.split("\n")
        for line in lines:
            try:
                rec = json.loads(line)
                window.append((rec["samples"] * rec["world_size"], rec["time"]))
                loss = rec.get("loss")
            except (ValueError, KeyError, TypeError):
                continue  # a damaged line is for read_metrics to report, not the bar
            del window[:-FPS_WINDOW]
            seconds = sum(t for _, t in window)
            seen += 1  # one record per finished iteration, whether "iter" counts from 0 or 1
            progress.update(seen, loss, sum(s for s, _ in window) / seconds if seconds > 0 else None)
        if stopping:
            break
        stop_event.wait(interval)
    progress.close()
    return seen
