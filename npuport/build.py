"""Build: install the patched tree into the workspace environment, reusing the invoking environment's torch.

The environment is a venv at WS/env whose `npuport-parent.pth` puts the invoking interpreter's site-packages
on its path: torch (and torch_npu on an NPU server) and npuport itself come from there, and pip sees them as
installed, so no other torch is ever pulled. A constraints file pins torch to the invoking version as a
second guard. A build is cached by its inputs (the workspace state and the torch version).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from dataclasses import dataclass, field
from pathlib import Path

from . import proc
from .errors import CheckFailed
from .recipe import Recipe
from .sources import copy_tree
from .workspace import Workspace

STAMP = "npuport-build.json"


@dataclass
class Command:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return proc.command_line(self.argv, self.env)


def env_python(ws: Workspace) -> Path:
    return ws.root / "env" / "bin" / "python"


def torch_version() -> str:
    """The invoking environment's torch version, read from its metadata (torch is not imported)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return ""


def build_dir(ws: Workspace, source: str) -> Path:
    """pip builds in the tree it is given (egg-info, build/): it gets a copy, so the locked state stays as written."""
    return ws.root / "build" / source


def plan(ws: Workspace, recipe: Recipe) -> list[Command]:
    """The exact commands a build runs, in order."""
    py = str(env_python(ws))
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check", "-c", str(ws.root / "env" / "constraints.txt")]
    cmds = []
    requires = sorted({r for inst in recipe.installs for r in (*inst.requires, *inst.deps)})
    if requires:
        cmds.append(Command([*pip, *requires]))
    for inst in recipe.installs:
        argv = [*pip, "--no-deps"] + ([] if inst.build_isolation else ["--no-build-isolation"])
        cmds.append(Command([*argv, str(build_dir(ws, inst.source))], dict(inst.env)))
    return cmds


def create_env(ws: Workspace, name: str = "") -> None:
    """A venv at WS/env that sees the invoking environment's packages (torch, torch_npu, npuport)."""
    root = ws.root / "env"
    what = f"could not create the environment{' of ' + name if name else ''} at {root}"
    hint = " (is the venv module with ensurepip installed? e.g. apt-get install python3-venv)"
    if not env_python(ws).exists():
        try:
            venv.EnvBuilder(with_pip=True, system_site_packages=True, clear=True).create(root)
        except (subprocess.CalledProcessError, OSError) as exc:  # venv's ensurepip
            detail = proc.last_line(getattr(exc, "stderr", None), str(exc)) or type(exc).__name__
            raise CheckFailed(f"{what}: {detail}{hint}") from None
    out = proc.run([str(env_python(ws)), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   what=what, hint=hint)
    parent = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *_source_checkout()}
    Path(out.stdout.strip(), "npuport-parent.pth").write_text("\n".join(sorted(parent)) + "\n")
    tv = torch_version()
    (root / "constraints.txt").write_text(f"torch=={tv}\n" if tv else "")


def _source_checkout() -> list[str]:
    """npuport's own folder when it runs from a checkout that is not installed (python -m npuport)."""
    here = Path(__file__).resolve().parent.parent
    return [str(here)] if (here / "setup.cfg").exists() else []


def is_current(ws: Workspace, key: str) -> bool:
    stamp = ws.root / "env" / STAMP
    if not stamp.exists() or not env_python(ws).exists():
        return False
    data = json.loads(stamp.read_text())
    return data.get("key") == key and data.get("torch") == torch_version()


def run(ws: Workspace, recipe: Recipe, key: str, log=None) -> bool:
    """Build unless a build of the same inputs is in place; True when it built."""
    if is_current(ws, key):
        return False
    stamp = ws.root / "env" / STAMP
    stamp.unlink(missing_ok=True)
    create_env(ws, recipe.name)
    for inst in recipe.installs:
        dest = build_dir(ws, inst.source)
        if dest.exists():
            shutil.rmtree(dest)
        copy_tree(ws.src(inst.source), dest)
    for cmd in plan(ws, recipe):
        proc.run(cmd.argv, what=f"build of {recipe.name}", extra_env=cmd.env,
                 env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
                 log_file=ws.root / "env" / "build-failed.log", echo=log)
    stamp.write_text(json.dumps({"key": key, "torch": torch_version(), "python": sys.version.split()[0]}) + "\n")
    return True
