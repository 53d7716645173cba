"""HTTP(S) and file:// reads with urllib: a timeout, the proxy env, pip's CA bundle; errors become Unreachable."""

from __future__ import annotations

import hashlib
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO

from npuport.errors import Unreachable
from npuport.sources.pipconf import pip_option

DEFAULT_TIMEOUT = 60.0
USER_AGENT = "npuport (urllib)"


class NotFound(Exception):
    """The server answered 404 (or a file:// path is missing)."""


def timeout() -> float:
    """Seconds to wait on a silent connection: env NPUPORT_TIMEOUT, else 60."""
    try:
        return float(os.environ.get("NPUPORT_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT


def _context() -> ssl.SSLContext | None:
    cert = pip_option("cert")
    return ssl.create_default_context(cafile=cert) if cert and Path(cert).is_file() else None


def open_url(url: str, *, accept: str = "*/*", hint: str = "") -> IO[bytes]:
    """Open `url` for reading. 404 -> NotFound; any other failure -> Unreachable naming the URL and `hint`."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file" and Path(urllib.request.url2pathname(parts.path)).is_dir():
        url = url.rstrip("/") + "/index.html"  # a local PEP 503 tree, as pip reads it
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": accept})
    try:
        ctx = _context() if parts.scheme == "https" else None
        return urllib.request.urlopen(request, timeout=timeout(), context=ctx)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFound(url) from exc
        raise Unreachable(f"{url}: HTTP {exc.code} {exc.reason}{hint}") from exc
    except urllib.error.URLError as exc:
        if parts.scheme == "file" and isinstance(exc.reason, FileNotFoundError):
            raise NotFound(url) from exc
        raise Unreachable(f"cannot reach {url} ({exc.reason}){hint}") from exc
    except (OSError, ValueError) as exc:
        raise Unreachable(f"cannot reach {url} ({exc}){hint}") from exc


def download(url: str, dest: Path, *, hint: str = "") -> str:
    """Save `url` to `dest`; returns the sha256 of what was written."""
    h = hashlib.sha256()
    with open_url(url, hint=hint) as response, open(dest, "wb") as out:
        try:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
        except OSError as exc:
            raise Unreachable(f"download of {url} broke off ({exc}){hint}") from exc
    return h.hexdigest()
