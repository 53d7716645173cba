"""Device and backend settings in YAML / JSON config files (`device: cuda`, `"backend": "nccl"`).

Config files are data: no code can ask npuport.runtime for the device there. So the default rules (NPU103 for
devices, NPU104 for backends) report each setting, and the direct-NPU flavour (NPU113 / NPU114, chosen with
--select) rewrites its value: `cuda` -> `npu`, `cuda:N` -> `npu:N`, `nccl` -> `hccl`, keeping the quotes, the
comments and the rest of the line. A value counts only under a key that is a device or backend setting:
`device`, `device_type`, `accelerator`, `*_device`, `backend`, `dist_backend`, `*_backend` (a `.`-separated
key's last part too). `cuda_version: cuda`, `name: nccl`, `backend: gloo`, `device: cpu` and `cuda` inside a
longer string are left alone. Lines are found by text, so formatting is kept byte for byte.
"""

from __future__ import annotations

import re

from npuport.rewriters.base import Change

SUFFIXES = (".yaml", ".yml", ".json")
#: Bigger files are data (annotations), not settings: skipped unread.
MAX_BYTES = 1 << 20

_SETTING = re.compile(
    r"""(?<![\w"'.-])(?P<kq>["']?)(?P<key>[A-Za-z_][\w.-]*)(?P=kq)[ \t]*:[ \t]*"""
    r"""(?P<vq>["']?)(?P<value>cuda(?::\d+)?|nccl)(?P=vq)(?=[ \t]*(?:[,}\]#\r\n]|$))""", re.M)
_DEVICE_KEYS = ("device", "device_type", "accelerator")
_BACKEND_KEYS = ("backend", "dist_backend", "distributed_backend")


def is_config(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def _kind(key: str) -> str:
    last = key.rsplit(".", 1)[-1].lower()
    if last in _DEVICE_KEYS or last.endswith("_device"):
        return "device"
    if last in _BACKEND_KEYS or last.endswith("_backend"):
        return "backend"
    return ""


def _sites(source: str, rule_ids: list[str]) -> list[tuple[re.Match, str, bool]]:
    """(match, rule, rewrite?) for every device or backend setting the selected rules cover."""
    if "cuda" not in source and "nccl" not in source:
        return []
    found = []
    for match in _SETTING.finditer(source):
        kind, value = _kind(match.group("key")), match.group("value")
        if kind == "device" and value.startswith("cuda"):
            rules = ("NPU113", "NPU103")
        elif kind == "backend" and value == "nccl":
            rules = ("NPU114", "NPU104")
        else:
            continue
        if rules[0] in rule_ids:
            found.append((match, rules[0], True))
        elif rules[1] in rule_ids:
            found.append((match, rules[1], False))
    return found


def _message(match: re.Match, fixed: bool) -> str:
    key, value = match.group("key"), match.group("value")
    if fixed:
        return f"{key}: {value} -> {_npu(value)} (config file)"
    rule, call = ("NPU114", "dist_backend()") if value == "nccl" else ("NPU113", "device(...)")
    return (f"{key}: {value} in a config file is data the code passes on: select {rule} to write {_npu(value)}, "
            f"or use npuport.runtime.{call} where the code reads it")


def _npu(value: str) -> str:
    return "hccl" if value == "nccl" else value.replace("cuda", "npu", 1)


def check(source: str, rule_ids: list[str]) -> list[Change]:
    """The settings found, as changes (fixed=True where the direct flavour would rewrite them)."""
    return [Change(rule, source.count("\n", 0, match.start()) + 1, _message(match, fixed), fixed)
            for match, rule, fixed in _sites(source, rule_ids)]


def apply(source: str, rule_ids: list[str], path: str = "<config>") -> tuple[str, list[Change]]:
    """The source with the direct flavour's settings rewritten, and the changes."""
    sites = _sites(source, rule_ids)
    out, at = [], 0
    for match, _, fixed in sites:
        if fixed:
            out.append(source[at:match.start("value")] + _npu(match.group("value")))
            at = match.end("value")
    out.append(source[at:])
    return "".join(out), check(source, rule_ids)
