"""Whole-file overlays, the hand-made ports' `cp -f` folders, taken in as they are and made safe.

    report = audit("mmcv_need", "mmcv-full==1.3.8", ["builder.py=mmcv/runner/optimizer/builder.py"])
    result = import_overlay("mmcv_need", "mmcv-full==1.3.8", out="recipes/myport")   # a recipe step
    shrink = to_patch("mmcv_need", "mmcv-full==1.3.8")                                # rewriters + a diff

audit.py says what each file is (no-op, misplaced, cut from another version, real change); versions.py finds
the closest published version; features.py lists the definitions a file drops; importer.py writes the
`overlay` step and its hash table entry; topatch.py turns real changes into rewrite and diff steps.
"""

from __future__ import annotations

from .audit import AuditReport, FileReport, audit, parse_onto
from .importer import ImportResult, import_overlay
from .topatch import ToPatchResult, to_patch

__all__ = ["AuditReport", "FileReport", "ImportResult", "ToPatchResult", "audit", "import_overlay", "parse_onto",
           "to_patch"]
