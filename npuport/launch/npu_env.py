"""The NPU environment of a launch: CANN's set_env.sh, the recipe's NPU variables, visible devices.

CANN is looked for in this order: `--cann PATH`, ASCEND_TOOLKIT_HOME, then the standard install paths.
PATH may be the toolkit folder (…/ascend-toolkit/latest), its parent, or the set_env.sh file itself.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import CheckFailed, UsageError

STANDARD_PATHS = ("/usr/local/Ascend/ascend-toolkit/latest", "~/Ascend/ascend-toolkit/latest")
VERSION_FILES = ("version.cfg", "version.info", "ascend_toolkit_install.info", "*/ascend_toolkit_install.info")
VERSION_LINE = re.compile(r"^\s*(?:package_|toolkit_)?version\s*=\s*\[?\s*([0-9][\w.\-]*)", re.I | re.M)
SHELL_NOISE = {"_", "PWD", "OLDPWD", "SHLVL"}
VISIBLE = {"npu": "ASCEND_RT_VISIBLE_DEVICES", "cuda": "CUDA_VISIBLE_DEVICES"}


@dataclass(frozen=True)
class Cann:
    """A CANN toolkit found on this machine."""

    home: Path  # the toolkit folder, e.g. /usr/local/Ascend/ascend-toolkit/latest
    set_env: Path
    version: str  # "" when no version file says
    found_by: str  # "--cann", "ASCEND_TOOLKIT_HOME" or "standard path"


def locate_set_env(path: Path) -> Path | None:
    """set_env.sh for a toolkit folder, its parent, or the script itself."""
    if path.is_file():
        return path
    for cand in (path / "set_env.sh", path.parent / "set_env.sh", path / "bin" / "setenv.bash"):
        if cand.is_file():
            return cand
    return None


def read_version(home: Path) -> str:
    for pattern in VERSION_FILES:
        for f in sorted(home.glob(pattern)):
            m = VERSION_LINE.search(f.read_text(errors="replace"))
            if m:
                return m.group(1)
    return ""


def _toolkit_home(set_env: Path, given: Path) -> Path:
    """The toolkit folder (…/latest) for the set_env.sh found from `given`."""
    if given.is_dir() and set_env.parent != given:
        return given  # given …/latest, the script in its parent (or in bin/)
    return set_env.parent / "latest" if (set_env.parent / "latest").is_dir() else set_env.parent


def find_cann(explicit: str | None = None, env: Mapping[str, str] | None = None) -> Cann | None:
    """The CANN toolkit to use, or None; `--cann PATH` that holds no set_env.sh is a usage error."""
    env = os.environ if env is None else env
    if explicit:
        given = Path(explicit).expanduser()
        found = locate_set_env(given)
        if found is None:
            raise UsageError(f"--cann {explicit}: no set_env.sh there (nor in its parent); give the CANN toolkit "
                             "folder, e.g. /usr/local/Ascend/ascend-toolkit/latest, or its set_env.sh")
        home = _toolkit_home(found, given if given.is_dir() else found.parent)
        return Cann(home, found, read_version(home), "--cann")
    candidates = []
    if env.get("ASCEND_TOOLKIT_HOME"):
        candidates.append((Path(env["ASCEND_TOOLKIT_HOME"]), "ASCEND_TOOLKIT_HOME"))
    home_dir = Path(env.get("HOME") or Path.home())
    candidates += [(Path(p.replace("~", str(home_dir), 1)), "standard path") for p in STANDARD_PATHS]
    for path, how in candidates:
        found = locate_set_env(path) if path.exists() else None
        if found is not None:
            home = _toolkit_home(found, path)
            return Cann(home, found, read_version(home), how)
    return None


def sourced_env(script: Path, base: Mapping[str, str] | None = None, timeout: float = 60) -> dict[str, str]:
    """The variables a real bash sets or changes when it sources `script` on top of `base`."""
    base = dict(os.environ if base is None else base)
    proc = subprocess.run(["bash", "-c", 'source "$1" >/dev/null 2>&1 || exit 3; env -0', "npuport", str(script)],
                          env=base, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise CheckFailed(f"sourcing {script} failed (exit {proc.returncode}): run `bash -c 'source {script}'` "
                          "to see why, or point --cann at a working CANN toolkit")
    after = dict(item.split("=", 1) for item in proc.stdout.decode(errors="replace").split("\0") if "=" in item)
    return {k: v for k, v in after.items() if k not in SHELL_NOISE and base.get(k) != v}


def visible_devices(device: str, nproc_per_node: int, given: str | None, base: Mapping[str, str]) -> dict[str, str]:
    """ASCEND_RT_VISIBLE_DEVICES (npu) / CUDA_VISIBLE_DEVICES (cuda): --visible-devices, else the shell's,
    else the first N devices (npu only)."""
    name = VISIBLE.get(device)
    if name is None:
        return {}
    if given:
        ids = [v for v in given.replace(" ", "").split(",") if v]
        if len(ids) < nproc_per_node:
            raise UsageError(f"--visible-devices {given}: {len(ids)} device(s) for --npus {nproc_per_node}; "
                             "list at least one device per process")
        return {name: ",".join(ids)}
    if base.get(name):
        return {name: base[name]}
    return {name: ",".join(str(i) for i in range(nproc_per_node))} if device == "npu" else {}


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise UsageError(f"--env {pair}: give NAME=VALUE, e.g. --env HCCL_CONNECT_TIMEOUT=1800")
        out[key] = value
    return out


@dataclass
class DeviceEnv:
    """What a launch adds to the environment for its device."""

    env: dict[str, str]  # printed with the command
    prelude: tuple[str, ...] = ()  # shell lines printed before it (source set_env.sh)
    sourced: dict[str, str] | None = None  # what the prelude sets, applied when npuport runs the command
    cann: Cann | None = None


def device_env(device: str, nproc_per_node: int, recipe_env: Mapping[str, str], overrides: Mapping[str, str],
               cann_path: str | None = None, visible: str | None = None,
               base: Mapping[str, str] | None = None, require_cann: bool = True) -> DeviceEnv:
    """On npu: CANN's set_env.sh, then the recipe's NPU variables, visible devices, then --env overrides.
    Without CANN here and `require_cann` False (a dry run), the plan sources CANN's standard set_env.sh."""
    base = os.environ if base is None else base
    env: dict[str, str] = {}
    prelude: tuple[str, ...] = ()
    sourced: dict[str, str] = {}
    cann = None
    if device == "npu":
        cann = find_cann(cann_path, base)
        if cann is not None:
            sourced = sourced_env(cann.set_env, base)
            prelude = (f"source {cann.set_env}",)
        elif require_cann:
            raise CheckFailed("--device npu: CANN not found (no --cann, ASCEND_TOOLKIT_HOME unset, nothing at "
                              f"{' or '.join(STANDARD_PATHS)}): install the CANN toolkit or pass --cann PATH")
        else:
            prelude = (f"source {Path(cann_path or STANDARD_PATHS[0]).expanduser() / 'set_env.sh'}",)
        env.update({k: str(v) for k, v in recipe_env.items()})
    env.update(visible_devices(device, nproc_per_node, visible, base))
    env.update(overrides)
    return DeviceEnv(env, prelude, sourced, cann)
