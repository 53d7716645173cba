"""Files written whole or not at all: a temporary file beside the target, then os.replace.

A reader never sees half a file, and an interrupted writer leaves the old one (or none) in place. Light enough
for the drivers and the runtime to import (no torch, no click).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Union

PathLike = Union[str, "os.PathLike[str]"]


def write_text(path: PathLike, text: str, *, mode: int | None = None, fsync: bool = False) -> Path:
    """Write `text` (UTF-8, newlines as given) to `path` atomically; `mode` sets the permissions (default: the
    umask's), `fsync` flushes the data to disk before the rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="") as handle:
            handle.write(text)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_json(path: PathLike, data: Any, *, indent: int = 2, sort_keys: bool = True, fsync: bool = False,
               **dumps: Any) -> Path:
    """`data` as JSON (and a final newline) to `path`, atomically; `dumps` goes to json.dumps."""
    return write_text(path, json.dumps(data, indent=indent, sort_keys=sort_keys, **dumps) + "\n", fsync=fsync)
