"""NPU606: mmcv-full's `load_ext` falls back to npuport's portable ops when `mmcv._ext` was not built.

Before::

    def load_ext(name, funcs):
        ext = importlib.import_module('mmcv.' + name)
        for fun in funcs:
            assert hasattr(ext, fun), f'{fun} miss in module {name}'
        return ext

After::

    def load_ext(name, funcs):
        if name == '_ext' and not check_ops_exist():
            from npuport.runtime.ops import load_ext as load_portable_ext
            return load_portable_ext(name, funcs)
        ext = importlib.import_module('mmcv.' + name)
        ...

Why: mmcv._ext is CUDA/C++ code that an NPU machine (or a CPU-only build) does not have; every mmcv.ops
module asks `load_ext('_ext', [...])` at import. npuport.runtime.ops gives the same functions in pure
PyTorch, or torch_npu's kernels on an NPU. A built `_ext` is still used.

Matched by shape, so it holds across mmcv-full releases whose ext_loader differs around it (1.2 to 1.7): a
`def load_ext(name, funcs)` whose body imports `'mmcv.' + name`, in a module that defines check_ops_exist.
A body that already falls back is left alone (idempotent).
"""

from __future__ import annotations

import libcst as cst

from npuport.rewriters._util import code
from npuport.rewriters.base import Rule, RuleTransformer

FALLBACK = """if name == '_ext' and not check_ops_exist():
    from npuport.runtime.ops import load_ext as load_portable_ext
    return load_portable_ext(name, funcs)
"""


class _ExtLoader(RuleTransformer):
    def visit_Module(self, node: cst.Module) -> bool:
        self.has_check = any(isinstance(st, cst.FunctionDef) and st.name.value == "check_ops_exist" for st in node.body)
        return True

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        params = [p.name.value for p in original.params.params]
        if original.name.value != "load_ext" or params != ["name", "funcs"] or not self.has_check:
            return updated
        if not isinstance(updated.body, cst.IndentedBlock):
            return updated
        text = code(updated.body)
        if "load_portable_ext" in text or not ("'mmcv.' + name" in text or '"mmcv." + name' in text):
            return updated
        self.fix(original, "load_ext: without a built mmcv._ext, load npuport.runtime.ops' portable ops")
        body = [cst.parse_statement(FALLBACK), *updated.body.body]
        return updated.with_changes(body=updated.body.with_changes(body=body))


class MmcvExtLoaderRule(Rule):
    ID = "NPU606"
    DESCRIPTION = "make mmcv-full's load_ext fall back to npuport.runtime.ops when mmcv._ext was not built"
    FIXABLE = True
    TRIGGERS = ("def load_ext",)
    Transformer = _ExtLoader
