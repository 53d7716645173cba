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


class NumpyAliasesRule(Rule):
    ID = "NPU602"
    DESCRIPTION = "replace removed numpy aliases np.int/float/bool/object/long/str with builtins"
    FIXABLE = True
    TRIGGERS = ("numpy",)
    PATTERN = r"\.(int|float|bool|object|long|str|complex|unicode)\b(?!\s*\()|\.(int|float|bool|object|long|str)\("
    Transformer = _NumpyAliases
