"""A small recipe over a local upstream tree, built in each test: one diff step and one new-files step."""

from __future__ import annotations

from pathlib import Path

from conftest import write

UPSTREAM = {
    "demo/__init__.py": "VERSION = '1.0'\n",
    "demo/core.py": """
        import torch


        def place(x):
            # keep this comment
            return x.cuda()


        def backend():
            return 'nccl'
        """,
}

DIFF = """\
--- a/demo/core.py
+++ b/demo/core.py
@@ -7,4 +7,5 @@
 
 
 def backend():
-    return 'nccl'
+    import npuport.runtime
+    return npuport.runtime.dist_backend()
"""

NEW_FILE = "def hello():\n    return 'npu'\n"


def make_upstream(root: Path, extra_files: int = 0) -> Path:
    for rel, text in UPSTREAM.items():
        write(root / rel, text)
    for i in range(extra_files):
        write(root / "demo" / "bulk" / f"m{i:04d}.py", f"X = {i}\n" * 40)
    return root


def make_recipe(folder: Path, upstream: Path, name: str = "demo", extra_steps: str = "") -> Path:
    rdir = folder / name
    write(rdir / "patches" / "core-backend.diff", DIFF)
    write(rdir / "files" / "demo" / "npu_extra.py", NEW_FILE)
    write(rdir / "recipe.toml", f"""
        name = "{name}"
        description = "a demo recipe"

        [[source]]
        name = "demo"
        kind = "path"
        path = "{upstream}"

        [[step]]
        id = "backend"
        kind = "diff"
        source = "demo"
        patch = "patches/core-backend.diff"
        why = "nccl does not exist on the NPU: ask the runtime for the backend"

        [[step]]
        id = "extra-module"
        kind = "files"
        source = "demo"
        files = {{ "demo/npu_extra.py" = "files/demo/npu_extra.py" }}
        why = "a new module of ours"

        [[step]]
        id = "device"
        kind = "rewrite"
        source = "demo"
        rules = ["NPU101"]
        paths = ["demo/core.py"]
        why = ".cuda() pins the tensor to CUDA: ask the runtime for this process's current device"
        {extra_steps}
        """)
    return folder
