"""One way to run a short subprocess (git, pip, a probe): log the exact command, raise one line on failure.

Long-running training processes are launch/'s: their output streams to the user and their signals matter.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from pathlib import Path
from typing import Callable, Mapping, Sequence, Type

from npuport.errors import CheckFailed, NpuportError

log = logging.getLogger("npuport.proc")


def command_line(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """`argv` as a shell would take it, after the variables that are set for it."""
    prefix = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in (env or {}).items())
    return (prefix + " " if prefix else "") + shlex.join(str(a) for a in argv)


def last_line(*texts: str | bytes | None) -> str:
    """The last non-empty line of the first text that has one ("" if none has)."""
    for text in texts:
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
        if lines:
            return lines[-1]
    return ""


def run(argv: Sequence[str], *, what: str, env: Mapping[str, str] | None = None, extra_env: Mapping[str, str] | None = None,
        check: bool = True, error: Type[NpuportError] = CheckFailed, hint: str = "", timeout: float | None = None,
        log_file: Path | None = None, echo: Callable[[str], None] | None = None) -> subprocess.CompletedProcess:
    """Run `argv` with its output captured (text), and return the finished process.

    The command (with `extra_env`, the variables set on top of `env` or os.environ) goes to `echo` as "+ CMD", else
    to the npuport.proc logger. With `check`, a non-zero exit raises `error`: "WHAT failed at `CMD`: LAST LINE OF
    STDERR (full log: LOG_FILE)HINT", the whole output written to `log_file` when one is given. A missing program
    or a timeout raises `error` whether or not `check` is set.
    """
    argv = [str(a) for a in argv]
    shown = command_line(argv, extra_env)
    (echo or (lambda line: log.debug("%s", line)))(f"+ {shown}")
    full_env = {**(os.environ if env is None else env), **(extra_env or {})}
    try:
        proc = subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise error(f"{what}: {argv[0]} is not installed or not on PATH{hint}") from None
    except subprocess.TimeoutExpired:
        raise error(f"{what}: `{shown}` did not finish in {timeout:g} s{hint}") from None
    if check and proc.returncode != 0:
        tail = last_line(proc.stderr, proc.stdout) or f"exit status {proc.returncode}, no output"
        where = ""
        if log_file is not None:
            Path(log_file).write_text(f"$ {shown}\n{proc.stdout}\n{proc.stderr}")
            where = f" (full log: {log_file})"
        raise error(f"{what} failed at `{shown}`: {tail}{where}{hint}")
    return proc
