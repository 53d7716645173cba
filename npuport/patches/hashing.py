"""Content hashes of files and trees, as recorded in recipes' hash tables and workspace locks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ABSENT = "absent"  # the hash recorded for a file that does not exist


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_hash(path: Path) -> str:
    try:
        return sha256_bytes(path.read_bytes())
    except FileNotFoundError:
        return ABSENT


def json_hash(data: object) -> str:
    """A stable hash of JSON-able data (sorted keys, no white space)."""
    return sha256_bytes(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())


def folder_hash(folder: Path) -> str:
    """A stable hash of every file under a folder (paths and contents), e.g. a recipe's folder."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(p.relative_to(folder).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()
