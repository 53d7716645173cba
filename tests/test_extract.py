"""Safe extraction: members that would escape the target folder are refused and nothing is left behind."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from npuport.errors import SourceError
from npuport.recipe.model import Source
from npuport.sources import Cache, fetch
from npuport.sources.extract import Refused, extract_archive


def add_file(tf: tarfile.TarFile, name: str, data: bytes = b"x", mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tf.addfile(info, io.BytesIO(data))


def add_special(tf: tarfile.TarFile, name: str, type_: bytes, linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = type_, linkname
    tf.addfile(info)


def make_tar(path: Path, build) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        build(tf)
    return path


def sdist(tf: tarfile.TarFile) -> None:
    add_file(tf, "pkg-1.0/setup.py", b"print('setup')\n")
    add_file(tf, "pkg-1.0/bin/run.sh", b"#!/bin/sh\n", mode=0o755)
    add_file(tf, "pkg-1.0/pkg/__init__.py", b"")


def test_sdist_top_folder_is_stripped_and_exec_bit_kept(tmp_path):
    archive = make_tar(tmp_path / "pkg-1.0.tar.gz", sdist)
    extract_archive(archive, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")) == [
        "bin", "bin/run.sh", "pkg", "pkg/__init__.py", "setup.py"]
    assert (tmp_path / "out" / "setup.py").read_text() == "print('setup')\n"
    assert os.stat(tmp_path / "out" / "bin" / "run.sh").st_mode & 0o100
    assert not os.stat(tmp_path / "out" / "setup.py").st_mode & 0o111


def test_no_strip_when_several_top_level_entries(tmp_path):
    def build(tf):
        add_file(tf, "a/x.py")
        add_file(tf, "setup.py")

    extract_archive(make_tar(tmp_path / "t.tar.gz", build), tmp_path / "out")
    assert (tmp_path / "out" / "a" / "x.py").is_file() and (tmp_path / "out" / "setup.py").is_file()


def test_strip_false_keeps_the_top_folder(tmp_path):
    extract_archive(make_tar(tmp_path / "t.tar.gz", sdist), tmp_path / "out", strip=False)
    assert (tmp_path / "out" / "pkg-1.0" / "setup.py").is_file()


def test_internal_symlink_is_kept(tmp_path):
    def build(tf):
        add_file(tf, "p-1/data/real.txt", b"hello")
        add_special(tf, "p-1/link.txt", tarfile.SYMTYPE, "data/real.txt")
        add_special(tf, "p-1/hard.txt", tarfile.LNKTYPE, "p-1/data/real.txt")

    extract_archive(make_tar(tmp_path / "t.tar.gz", build), tmp_path / "out")
    assert os.readlink(tmp_path / "out" / "link.txt") == "data/real.txt"
    assert (tmp_path / "out" / "link.txt").read_text() == "hello"
    assert (tmp_path / "out" / "hard.txt").read_text() == "hello"
    assert not (tmp_path / "out" / "hard.txt").is_symlink()


UNSAFE_TAR = {
    "dotdot": (lambda tf: (add_file(tf, "p-1/ok.py"), add_file(tf, "p-1/../../evil")), "p-1/../../evil", "'..'"),
    "absolute": (lambda tf: add_file(tf, "/tmp/npuport-evil-abs"), "/tmp/npuport-evil-abs", "absolute"),
    "symlink_abs": (lambda tf: (add_file(tf, "p-1/ok.py"), add_special(tf, "p-1/etc", tarfile.SYMTYPE, "/etc")),
                    "p-1/etc", "/etc"),
    "symlink_up": (lambda tf: (add_file(tf, "p-1/ok.py"), add_special(tf, "p-1/up", tarfile.SYMTYPE, "../../x")),
                   "p-1/up", "outside"),
    # lexically inside (a/../x), but a -> . makes it resolve to ../x
    "symlink_via_link": (lambda tf: (add_file(tf, "p-1/ok.py"), add_special(tf, "p-1/a", tarfile.SYMTYPE, "."),
                                     add_special(tf, "p-1/a/l", tarfile.SYMTYPE, "../x")), "p-1/a/l", "outside"),
    # the top folder is stripped, so a link out of it leaves the tree
    "symlink_out_of_top": (lambda tf: (add_file(tf, "p-1/ok.py"),
                                       add_special(tf, "p-1/s", tarfile.SYMTYPE, "../other")), "p-1/s", "outside"),
    "hardlink_out": (lambda tf: (add_file(tf, "p-1/ok.py"), add_special(tf, "p-1/h", tarfile.LNKTYPE, "etc/passwd")),
                     "p-1/h", "outside"),
    "chardev": (lambda tf: (add_file(tf, "p-1/ok.py"), add_special(tf, "p-1/null", tarfile.CHRTYPE)),
                "p-1/null", "device"),
    "fifo": (lambda tf: (add_file(tf, "p-1/ok.py"), add_special(tf, "p-1/pipe", tarfile.FIFOTYPE)), "p-1/pipe", "FIFO"),
    "file_through_link": (lambda tf: (add_special(tf, "p-1/d", tarfile.SYMTYPE, "sub"), add_file(tf, "p-1/sub/x"),
                                      add_file(tf, "p-1/d/y")), "p-1/d", "symlink where"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE_TAR))
def test_unsafe_tar_is_refused_and_nothing_is_left(tmp_path, case):
    build, member, why = UNSAFE_TAR[case]
    archive = make_tar(tmp_path / "bad.tar.gz", build)
    with pytest.raises(Refused) as err:
        extract_archive(archive, tmp_path / "out", label="bad.tar.gz")
    msg = str(err.value)
    assert "bad.tar.gz" in msg and repr(member) in msg and why in msg
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil").exists() and not (tmp_path / "x").exists()
    assert not Path("/tmp/npuport-evil-abs").exists()


def make_zip(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_zip_is_extracted_and_stripped(tmp_path):
    archive = make_zip(tmp_path / "p-1.zip", [("p-1/setup.py", b"s", 0o100644), ("p-1/run", b"r", 0o100755),
                                              ("p-1/link", b"setup.py", stat.S_IFLNK | 0o777)])
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / "setup.py").read_bytes() == b"s"
    assert os.stat(tmp_path / "out" / "run").st_mode & 0o100
    assert os.readlink(tmp_path / "out" / "link") == "setup.py"


@pytest.mark.parametrize("entries, member", [
    ([("p-1/ok", b"", 0o100644), ("p-1/../../evil", b"boom", 0o100644)], "p-1/../../evil"),
    ([("/abs/evil", b"boom", 0o100644)], "/abs/evil"),
    ([("p-1/ok", b"", 0o100644), ("p-1/etc", b"/etc", stat.S_IFLNK | 0o777)], "p-1/etc"),
    ([("p-1/ok", b"", 0o100644), ("p-1/dev", b"", stat.S_IFCHR | 0o644)], "p-1/dev"),
])
def test_unsafe_zip_is_refused(tmp_path, entries, member):
    archive = make_zip(tmp_path / "bad.zip", entries)
    with pytest.raises(Refused, match=repr(member).replace(".", r"\.")):
        extract_archive(archive, tmp_path / "out", label="bad.zip")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil").exists()


def test_not_an_archive_is_a_source_error(tmp_path):
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive at all")
    with pytest.raises(SourceError, match="junk.tar.gz: cannot extract"):
        extract_archive(tmp_path / "junk.tar.gz", tmp_path / "out", label="junk.tar.gz")
    assert not (tmp_path / "out").exists()


def test_refused_path_archive_leaves_nothing_in_the_cache(tmp_path):
    archive = make_tar(tmp_path / "evil-1.0.tar.gz", UNSAFE_TAR["symlink_abs"][0])
    cache = Cache(tmp_path / "cache")
    with pytest.raises(SourceError, match=r"evil-1\.0\.tar\.gz: refused member 'p-1/etc'"):
        fetch(Source("evil", "path", path=str(archive)), cache=cache)
    left = [p for p in cache.root.rglob("*") if p.is_file() and p.parent.name != "locks"]
    assert left == []
