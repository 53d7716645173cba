"""NPU602: removed numpy aliases -> builtins.

Before::

    import numpy as np
    inds = np.array(tmp, dtype=np.int)
    ignore = np.zeros(n, dtype=np.bool)

After::

    import numpy as np
    inds = np.array(tmp, dtype=int)
    ignore = np.zeros(n, dtype=bool)

Why: numpy 1.24 removed np.int/np.float/np.bool/np.object/np.long/np.str (AttributeError), and every
numpy that installs next to a current torch is newer. The builtins are what the aliases always were.
Only attribute access on a name the module's top-level imports bind to numpy is changed; docstrings and
other objects' attributes are left alone.
"""

from __future__ import annotations

import re

import libcst as cst

from npuport.rewriters._util import data, module_aliases
from npuport.rewriters.base import Rule, RuleTransformer

#: np.X -> builtin (data/numpy_aliases.json)
ALIASES: dict[str, str] = data("numpy_aliases")["aliases"]


class _NumpyAliases(RuleTransformer):
    def visit_Module(self, node: cst.Module) -> None:
        self.numpy = module_aliases(node, "numpy")

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        if not isinstance(original.value, cst.Name) or original.value.value not in self.numpy:
            return updated
        name = original.attr.value
        if name not in ALIASES:
            return updated
        self.fix(original, f"{original.value.value}.{name} -> {ALIASES[name]}")
        return cst.Name(ALIASES[name], lpar=updated.lpar, rpar=updated.rpar)


#: the text of a removed alias: an attribute, or a call of one
_ATTRIBUTE = r"\.(int|float|bool|object|long|str|complex|unicode)\b(?!\s*\()"
_CALLED = r"\.(int|float|bool|object|long|str)\("


class NumpyAliasesRule(Rule):
    ID = "NPU602"
    DESCRIPTION = "replace removed numpy aliases np.int/float/bool/object/long/str with builtins"
    FIXABLE = True
    TRIGGERS = ("numpy",)
    PATTERN = _ATTRIBUTE + "|" + _CALLED
    Transformer = _NumpyAliases

    def wants(self, source: str) -> bool:
        """PATTERN right after a name an `import numpy [as X]` binds (x.float() on a tensor is not a site)."""
        if not super().wants(source):
            return False
        names = sorted({alias or "numpy" for alias in _IMPORT.findall(source)})
        if not names:
            return False
        receiver = r"\b(?:" + "|".join(names) + r")[\s)\\]*"
        return re.search(receiver + _ATTRIBUTE + "|" + receiver + _CALLED, source) is not None


#: `numpy` or `numpy as X` in an import statement (`import os, numpy as np` too)
_IMPORT = re.compile(r"(?m)(?:^|;)[ \t]*import[ \t][^\n#;]*?\bnumpy\b(?!\.)(?:[ \t]+as[ \t]+(\w+))?")
