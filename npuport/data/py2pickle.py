"""Write pickles the way Python 2's cPickle wrote the CIFAR-10 batches.

Byte strings become Python 2 `str` (SHORT_BINSTRING / BINSTRING), so `pickle.load(f, encoding="bytes")`
gives b"data" keys and torchvision's `encoding="latin1"` gives "data" keys, exactly as with the real files.
Arrays are rebuilt through `numpy.core.multiarray._reconstruct`, which numpy 1.x and 2.x both load
(numpy 2's own pickles name `numpy._core`, which numpy 1.x lacks).
"""

from __future__ import annotations

import struct

import numpy as np

PROTO = b"\x80\x02"
STOP = b"."
MARK = b"("


def dumps(obj: object) -> bytes:
    """Protocol-2 pickle of dicts, lists, tuples, ints, bools, None, bytes and uint8 arrays."""
    parts: list[bytes] = [PROTO]
    save(obj, parts)
    parts.append(STOP)
    return b"".join(parts)


def save(obj: object, out: list[bytes]) -> None:
    if obj is None:
        out.append(b"N")
    elif isinstance(obj, bool):
        out.append(b"\x88" if obj else b"\x89")
    elif isinstance(obj, (int, np.integer)):
        save_int(int(obj), out)
    elif isinstance(obj, bytes):
        save_str(obj, out)
    elif isinstance(obj, dict):
        out.append(b"}")
        if obj:
            out.append(MARK)
            for key, value in obj.items():
                save(key, out)
                save(value, out)
            out.append(b"u")
    elif isinstance(obj, list):
        out.append(b"]")
        if obj:
            out.append(MARK)
            for item in obj:
                save(item, out)
            out.append(b"e")
    elif isinstance(obj, tuple):
        out.append(MARK)
        for item in obj:
            save(item, out)
        out.append(b"t")
    elif isinstance(obj, np.ndarray) and obj.dtype == np.uint8:
        save_uint8_array(obj, out)
    else:
        raise TypeError(f"py2pickle cannot write {type(obj).__name__}")


def save_int(value: int, out: list[bytes]) -> None:
    if 0 <= value < 256:
        out.append(b"K" + struct.pack("<B", value))
    elif 0 <= value < 65536:
        out.append(b"M" + struct.pack("<H", value))
    elif -(2**31) <= value < 2**31:
        out.append(b"J" + struct.pack("<i", value))
    else:
        raise ValueError(f"py2pickle: integer {value} does not fit 32 bits")


def save_str(value: bytes, out: list[bytes]) -> None:
    if len(value) < 256:
        out.append(b"U" + struct.pack("<B", len(value)) + value)
    else:
        out.append(b"T" + struct.pack("<I", len(value)) + value)


def save_uint8_array(array: np.ndarray, out: list[bytes]) -> None:
    """ndarray via _reconstruct(ndarray, (0,), 'b') and the state (1, shape, dtype('u1'), False, data)."""
    out.append(b"cnumpy.core.multiarray\n_reconstruct\n")
    out.append(b"cnumpy\nndarray\n")
    save((0,), out)
    save_str(b"b", out)
    out.append(b"\x87R")  # TUPLE3, REDUCE
    out.append(MARK)
    save(1, out)
    save(tuple(array.shape), out)
    out.append(b"cnumpy\ndtype\n")
    save((b"u1", 0, 1), out)
    out.append(b"R")
    save((3, b"|", None, None, None, -1, -1, 0), out)
    out.append(b"b")  # BUILD the dtype
    save(False, out)
    save_str(np.ascontiguousarray(array).tobytes(), out)
    out.append(b"t")
    out.append(b"b")  # BUILD the array
