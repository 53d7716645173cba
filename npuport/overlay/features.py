"""What a Python file defines: functions, classes, methods (Class.method) and hooks, read with ast."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

#: mmcv's Hook stages (before_run, after_train_iter, ...): a method so named is a hook.
HOOK_METHOD = re.compile(r"^(before|after)_[a-z_]+$")


@dataclass(frozen=True)
class Feature:
    name: str  # "func", "Class", "Class.method"
    kind: str  # "function" | "class" | "method" | "hook"

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


def _is_hook_class(node: ast.ClassDef) -> bool:
    bases = [ast.unparse(b) for b in node.bases]
    decorators = [ast.unparse(d) for d in node.decorator_list]
    return any(b.endswith("Hook") for b in bases) or any("HOOKS.register_module" in d for d in decorators)


def features(text: str) -> dict[str, Feature] | None:
    """Every definition by qualified name; None when the text is not Python that parses."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    found: dict[str, Feature] = {}

    def walk(body: list[ast.stmt], prefix: str, in_class: bool) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + node.name
                kind = ("hook" if HOOK_METHOD.match(node.name) else "method") if in_class else "function"
                found[name] = Feature(name, kind)
            elif isinstance(node, ast.ClassDef):
                name = prefix + node.name
                found[name] = Feature(name, "hook" if _is_hook_class(node) else "class")
                walk(node.body, name + ".", True)
            elif isinstance(node, (ast.If, ast.Try)):  # definitions under `if TORCH_VERSION ...:` and try/except
                for part in (node.body, getattr(node, "orelse", []), *[h.body for h in getattr(node, "handlers", [])]):
                    walk(part, prefix, in_class)

    walk(tree.body, "", False)
    return found


def removed(upstream: str, overlay: str) -> list[Feature]:
    """The definitions of `upstream` that `overlay` drops ([] when either does not parse)."""
    before, after = features(upstream), features(overlay)
    if before is None or after is None:
        return []
    return [f for name, f in before.items() if name not in after]
