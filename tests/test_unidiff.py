from __future__ import annotations

import pytest

from npuport.errors import CheckFailed
from npuport.patches import unidiff

BASE = "one\ntwo\nthree\nfour\nfive\n"
DIFF = """--- a/f.txt
+++ b/f.txt
@@ -2,3 +2,3 @@
 two
-three
+THREE
 four
"""


def test_applies_exactly():
    (patch,) = unidiff.parse(DIFF)
    assert patch.path == "f.txt"
    assert unidiff.apply(BASE, patch, "t") == "one\ntwo\nTHREE\nfour\nfive\n"


def test_zero_fuzz_refuses_a_moved_hunk():
    (patch,) = unidiff.parse(DIFF)
    with pytest.raises(CheckFailed, match=r"hunk 1 of f.txt does not apply at line 2 \(zero fuzz\)"):
        unidiff.apply("zero\n" + BASE, patch, "t")


def test_refuses_changed_context():
    (patch,) = unidiff.parse(DIFF)
    with pytest.raises(CheckFailed, match="expected 'four'"):
        unidiff.apply(BASE.replace("four", "FOUR"), patch, "t")


def test_creates_and_deletes_files():
    create = "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1,2 @@\n+a = 1\n+b = 2\n"
    (patch,) = unidiff.parse(create)
    assert patch.old is None and unidiff.apply(None, patch, "t") == "a = 1\nb = 2\n"
    with pytest.raises(CheckFailed, match="exists already"):
        unidiff.apply("x\n", patch, "t")
    delete = "--- a/old.py\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-a = 1\n"
    (patch,) = unidiff.parse(delete)
    assert unidiff.apply("a = 1\n", patch, "t") is None


def test_no_newline_at_end():
    diff = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n"
    (patch,) = unidiff.parse(diff)
    assert unidiff.apply("a", patch, "t") == "b"


def test_garbage_is_refused():
    with pytest.raises(CheckFailed, match="holds no file patch"):
        unidiff.parse("not a diff\n", "x.diff")
