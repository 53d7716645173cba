"""URL prefix rewriting, like git's `url.<TO>.insteadOf = <FROM>`: for servers that cannot reach GitHub.

Pairs are `FROM=TO`. They come from, highest priority first:
  1. the CLI: `--mirror FROM=TO` (repeatable);
  2. env NPUPORT_MIRROR: pairs separated by whitespace or commas, e.g.
     `NPUPORT_MIRROR="https://github.com/=https://gitee.com/ https://pypi.org/simple/=http://pypi.lan/simple/"`;
  3. the config file (env NPUPORT_CONFIG, else `<user config dir>/npuport/config.toml`), a `[mirrors]` table:
     [mirrors]
     "https://github.com/" = "file:///srv/git/"
A FROM given twice takes the value of the higher priority. Rewriting uses the longest FROM that prefixes the URL.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from npuport.errors import UsageError
from npuport.recipe import tomllib


def config_path() -> Path:
    """The npuport config file: env NPUPORT_CONFIG, else config.toml in the user config dir."""
    env = os.environ.get("NPUPORT_CONFIG")
    if env:
        return Path(env).expanduser()
    try:
        from platformdirs import user_config_dir

        base = Path(user_config_dir("npuport", appauthor=False))
    except ImportError:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "npuport"
    return base / "config.toml"


def parse_pair(pair: str, where: str) -> tuple[str, str]:
    """`FROM=TO` as a tuple; UsageError naming the pair and where it came from if malformed."""
    src, sep, dst = pair.partition("=")
    if not sep or not src.strip() or not dst.strip():
        raise UsageError(f"malformed mirror {pair!r} in {where}: write FROM=TO, e.g. https://github.com/=file:///srv/git/")
    return src.strip(), dst.strip()


@dataclass(frozen=True)
class Mirrors:
    """URL prefix rewrites; `rewrite` applies the longest matching prefix."""

    pairs: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, cli_pairs: Iterable[str] = (), *, env: Mapping[str, str] | None = None) -> Mirrors:
        """Mirrors from the config file, then env NPUPORT_MIRROR, then the CLI (each overrides the last)."""
        env = os.environ if env is None else env
        pairs: dict[str, str] = {}
        pairs.update(_from_file(config_path()))
        text = env.get("NPUPORT_MIRROR", "")
        for item in re.split(r"[\s,]+", text.strip()) if text.strip() else []:
            src, dst = parse_pair(item, "NPUPORT_MIRROR")
            pairs[src] = dst
        for item in cli_pairs:
            src, dst = parse_pair(item, "--mirror")
            pairs[src] = dst
        return cls(pairs)

    def rewrite(self, url: str) -> str:
        """`url` with the longest matching FROM prefix replaced by its TO; unchanged if none matches."""
        best = max((src for src in self.pairs if url.startswith(src)), key=len, default="")
        return self.pairs[best] + url[len(best):] if best else url

    def __bool__(self) -> bool:
        return bool(self.pairs)


def _from_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc}); fix or remove the file") from exc
    table = data.get("mirrors", {})
    if not isinstance(table, dict):
        raise UsageError(f"{path}: 'mirrors' must be a table of \"FROM\" = \"TO\" strings")
    out = {}
    for src, dst in table.items():
        if not isinstance(dst, str) or not src.strip() or not dst.strip():
            raise UsageError(f"{path}: malformed mirror {src!r} = {dst!r} in [mirrors]; write \"FROM\" = \"TO\"")
        out[src.strip()] = dst.strip()
    return out
