"""The config an mmdet driver runs: the recipe's config (upstream's own file in the set-up tree, or the recipe's),
npuport's overrides merged over it, the data set's root put in place of the config's, then --cfg-options.

An overrides file is a plain mmcv config of what changes, merged the way mmcv >= 1.0 merges a config over its
`_base_`: a dict updates the dict under the same key, key by key, unless it holds `_delete_=True` (then it
replaces it); any other value (lists included) replaces. mmcv 0.2 has no `_base_`, so the merge is done here,
the same for every mmcv.
"""
from __future__ import annotations

import ast
import importlib
import os
from typing import Any, Dict, Optional, Sequence

from npuport.errors import UsageError

DELETE = "_delete_"


def load_config(path: str, data_root: Optional[str], options: Sequence[str] = (),
                overrides: Optional[str] = None) -> Any:
    """mmcv Config from `path`, `overrides` merged over it, its data paths moved under `data_root`, then
    `options` (--cfg-options KEY=VALUE) set, as mmdet 2.x's tools do (mmcv 0.2 has no merge_from_dict)."""
    from mmcv import Config

    for name, file in (("config", path), ("--overrides", overrides)):
        if file is not None and not os.path.isfile(file):
            raise UsageError(f"{name} {file} does not exist; pass the recipe's config file (`npuport show NAME`)")
    cfg = Config.fromfile(path)
    if overrides:
        merged = _plain(cfg._cfg_dict)
        merge(merged, _plain(Config.fromfile(overrides)._cfg_dict))
        cfg = Config(merged, filename=path)
    if data_root:
        if not os.path.isdir(data_root):
            raise UsageError(f"--data-root {data_root} is not a directory; make data with `npuport data synth`")
        move_data_root(cfg, os.path.abspath(data_root), path)
    for option in options:
        set_option(cfg, option)
    import_custom_modules(cfg)
    return cfg


def import_custom_modules(cfg: Any) -> None:
    """Import the modules of cfg.custom_imports (their transforms register themselves), as mmcv >= 1.2's
    Config.fromfile does; mmcv 0.2's does not. Importing twice is a no-op."""
    custom = cfg.get("custom_imports") or {}
    for name in custom.get("imports", []):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            if not custom.get("allow_failed_imports", False):
                raise UsageError(f"custom_imports of the config: cannot import {name} ({exc})") from None


def merge(base: Dict[str, Any], new: Dict[str, Any]) -> None:
    """Merge `new` into `base` in place, both plain dicts (mmcv's `_base_` rules; see the module's docstring)."""
    for name, value in new.items():
        if isinstance(value, dict):
            delete = value.pop(DELETE, False)
            if not delete and isinstance(base.get(name), dict):
                merge(base[name], value)
                continue
        base[name] = value


def move_data_root(cfg: Any, root: str, path: str) -> None:
    """Every path of cfg.data that starts with the config's `data_root` now starts with `root`."""
    old = cfg.get("data_root")
    if not isinstance(old, str) or not old:
        raise UsageError(f"config {path} sets no data_root; npuport moves the paths of cfg.data that start with it "
                         "to --data-root: add `data_root = 'data/coco/'` and build the paths from it")
    new = root.rstrip("/") + "/"
    moved = _move(cfg.data, old, new)
    if not moved:
        raise UsageError(f"config {path}: no path of cfg.data starts with its data_root {old!r}; build them from it")
    cfg.data_root = new


def _move(node: Any, old: str, new: str) -> int:
    if isinstance(node, dict):
        moved = 0
        for key, value in node.items():
            if isinstance(value, str) and value.startswith(old):
                node[key] = new + value[len(old):]
                moved += 1
            else:
                moved += _move(value, old, new)
        return moved
    if isinstance(node, (list, tuple)):
        return sum(_move(item, old, new) for item in node)
    return 0


def _plain(node: Any) -> Any:
    """A ConfigDict tree as plain dicts and lists, which merge changes in place (mmcv's Config is rebuilt after)."""
    if isinstance(node, dict):
        return {key: _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    return node


def set_option(cfg: Any, option: str) -> None:
    """One --cfg-options KEY=VALUE: a dotted key of existing dicts; the value a Python literal, else a string."""
    key, sep, text = option.partition("=")
    if not sep or not key:
        raise UsageError(f"--cfg-options {option!r}: expected KEY=VALUE (for example model.bbox_head.stacked_convs=2)")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    *parents, last = key.split(".")
    target = cfg
    for depth, name in enumerate(parents):
        if not isinstance(target.get(name) if hasattr(target, "get") else None, dict):
            where = ".".join(parents[: depth + 1])
            raise UsageError(f"--cfg-options {option!r}: the config has no dict {where}; check the key against the "
                             "recipe's config")
        target = target[name]
    target[last] = value
