"""Write a generated data set into a temporary folder beside its target, then swap it in."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from npuport.errors import UsageError

MARKER = ".npuport-synth.json"


@dataclass(frozen=True)
class SynthReport:
    """What a generator wrote: the format, the folder, the seed and how many samples per split."""

    format: str
    out: Path
    seed: int
    splits: dict[str, int] = field(default_factory=dict)  # e.g. {"train": 16, "val": 4}
    files: int = 0

    def to_json(self) -> dict:
        return {"format": self.format, "out": str(self.out), "seed": self.seed,
                "splits": dict(self.splits), "files": self.files}


def check_target(out: Path) -> None:
    """Refuse a target that is a file, or a non-empty folder that no generator wrote."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UsageError(f"{out} exists and is a file or a link, not a folder: "
                         "choose a new folder for the generated data")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UsageError(
            f"{out} is not empty and holds no {MARKER} (it was not written by `npuport data synth`); "
            "refusing to replace it: choose an empty or new folder"
        )


@contextmanager
def staged(out: Path, marker: dict) -> Iterator[Path]:
    """Yield a temporary folder beside `out`; on success write the marker and swap it in as `out`.

    On any error the temporary folder is removed and `out` is left as it was.
    """
    out = Path(os.path.abspath(out))
    check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.staging-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()  # not mkdtemp: the folder keeps the umask's permissions once swapped in
    try:
        yield tmp
        (tmp / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
        check_target(out)  # the folder may have changed while we generated
        swap_in(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def swap_in(tmp: Path, out: Path) -> None:
    """Replace `out` (absent, empty, or a previous generated set) with `tmp`."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())
