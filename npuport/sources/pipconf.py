"""The index pip is configured with, read the way pip reads it, without running pip."""

from __future__ import annotations

import configparser
import os
import sys
from pathlib import Path
from typing import Mapping

DEFAULT_INDEX = "https://pypi.org/simple/"


def config_files(env: Mapping[str, str] | None = None) -> list[Path]:
    """pip's config files, lowest priority first: global, user, site, then PIP_CONFIG_FILE."""
    env = os.environ if env is None else env
    explicit = env.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:
        return []
    xdg_dirs = (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep)
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs if d] + [Path("/etc/pip.conf")]
    if not (explicit and Path(explicit).exists()):
        home = Path(env.get("HOME") or Path.home())
        files += [home / ".pip" / "pip.conf", Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    venv = env.get("VIRTUAL_ENV")
    if venv and Path(venv) != Path(sys.prefix):
        files.append(Path(venv) / "pip.conf")
    if explicit:
        files.append(Path(explicit))
    return files


def pip_option(name: str, env: Mapping[str, str] | None = None) -> str:
    """A pip option as `pip install` would see it: env PIP_<NAME>, else the config files
    (`[install]` over `[global]`, later files over earlier); "" when unset."""
    env = os.environ if env is None else env
    value = env.get("PIP_" + name.upper().replace("-", "_"))
    if value:
        return value
    parsers = []
    for path in config_files(env):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError, OSError):
            continue  # pip would fail loudly; we fall back to what the other files say
        parsers.append(parser)
    found = ""
    for section in ("global", "install"):  # as pip does: any [install] beats any [global]
        for parser in parsers:
            for key in (name, name.replace("-", "_")):
                if parser.has_option(section, key) and parser.get(section, key).strip():
                    found = parser.get(section, key).strip()
    return found


def index_url(env: Mapping[str, str] | None = None) -> str:
    """The simple-API index URL pip uses (PIP_INDEX_URL, pip's config files, else PyPI), ending in '/'."""
    url = pip_option("index-url", env) or DEFAULT_INDEX
    return url if url.endswith("/") else url + "/"
