"""Mirror configuration (CLI > env > config file) and reading pip's index URL without pip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from npuport.errors import UsageError
from npuport.sources import Mirrors, index_url
from npuport.sources.mirrors import config_path
from npuport.sources.pipconf import DEFAULT_INDEX, config_files


@pytest.fixture(autouse=True)
def sources_env(monkeypatch, tmp_path):
    monkeypatch.setenv("NPUPORT_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("NPUPORT_MIRROR", raising=False)


def test_longest_prefix_wins():
    m = Mirrors({"https://github.com/": "file:///srv/gh/", "https://github.com/open-mmlab/": "file:///srv/omm/"})
    assert m.rewrite("https://github.com/open-mmlab/mmdetection.git") == "file:///srv/omm/mmdetection.git"
    assert m.rewrite("https://github.com/WXinlong/SOLO.git") == "file:///srv/gh/WXinlong/SOLO.git"
    assert m.rewrite("https://gitlab.com/x.git") == "https://gitlab.com/x.git"
    assert not Mirrors() and Mirrors().rewrite("https://github.com/x") == "https://github.com/x"


def test_priority_cli_over_env_over_file(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text(
        '# mirrors for the lab\n[mirrors]\n"https://github.com/" = "file:///from-file/"\n'
        '"https://pypi.org/" = "http://pypi.lan/"\n')
    assert Mirrors.load().pairs == {"https://github.com/": "file:///from-file/", "https://pypi.org/": "http://pypi.lan/"}
    monkeypatch.setenv("NPUPORT_MIRROR", "https://github.com/=file:///from-env/, https://a/=https://b/")
    env = Mirrors.load()
    assert env.rewrite("https://github.com/x") == "file:///from-env/x" and env.rewrite("https://a/y") == "https://b/y"
    assert env.rewrite("https://pypi.org/simple/") == "http://pypi.lan/simple/"
    cli = Mirrors.load(["https://github.com/=file:///from-cli/"])
    assert cli.rewrite("https://github.com/x") == "file:///from-cli/x" and cli.rewrite("https://a/y") == "https://b/y"


def test_env_pairs_split_on_whitespace_and_commas(monkeypatch):
    monkeypatch.setenv("NPUPORT_MIRROR", " a=1,b=2\n\tc=3 ,, d=x=y ")
    assert Mirrors.load().pairs == {"a": "1", "b": "2", "c": "3", "d": "x=y"}


@pytest.mark.parametrize("pair", ["https://github.com/", "=file:///x/", "https://github.com/="])
def test_malformed_cli_pair(pair):
    with pytest.raises(UsageError, match=rf"malformed mirror {pair!r} in --mirror: write FROM=TO"):
        Mirrors.load([pair])


def test_malformed_env_pair(monkeypatch):
    monkeypatch.setenv("NPUPORT_MIRROR", "a=b nohost")
    with pytest.raises(UsageError, match="malformed mirror 'nohost' in NPUPORT_MIRROR"):
        Mirrors.load()


@pytest.mark.parametrize("text, match", [
    ('[mirrors]\n"https://github.com/" = 3\n', "malformed mirror"),
    ('mirrors = "x"\n', "'mirrors' must be a table"),
    ('[mirrors\n"a" = "b"\n', "not valid TOML"),
])
def test_bad_config_file_names_the_file(tmp_path, text, match):
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(UsageError, match=match) as err:
        Mirrors.load()
    assert str(tmp_path / "config.toml") in str(err.value)


def test_config_path_default(monkeypatch):
    monkeypatch.delenv("NPUPORT_CONFIG")
    assert config_path().parts[-2:] == ("npuport", "config.toml")


def test_config_file_keys_quoted_either_way(tmp_path):
    (tmp_path / "config.toml").write_text(
        '# c\n[other]\nk = "v"\n\n[mirrors]\n"https://github.com/" = "file:///srv/git/"  # trailing\n'
        "'https://x/' = 'https://y/'\nplain_key = \"a\\\\b\"\n")
    assert Mirrors.load().pairs == {"https://github.com/": "file:///srv/git/", "https://x/": "https://y/",
                                    "plain_key": "a\\b"}


# pip's index URL


def write_conf(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def home(tmp_path) -> dict[str, str]:
    """An environment whose pip config files all live in tmp_path (bar /etc/pip.conf and sys.prefix)."""
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_DIRS": str(tmp_path / "xdg")}


def test_default_when_nothing_is_configured():
    assert index_url({"PIP_CONFIG_FILE": os.devnull}) == DEFAULT_INDEX == "https://pypi.org/simple/"
    assert config_files({"PIP_CONFIG_FILE": os.devnull}) == []


def test_env_beats_every_file(home, tmp_path):
    write_conf(tmp_path / "home/.config/pip/pip.conf", "[global]\nindex-url = http://user/simple\n")
    assert index_url({**home, "PIP_INDEX_URL": "http://env/simple"}) == "http://env/simple/"
    assert index_url(home) == "http://user/simple/"


def test_file_priority_like_pip(home, tmp_path):
    write_conf(tmp_path / "xdg/pip/pip.conf", "[global]\nindex-url = http://xdg-global/\n")
    assert index_url(home) == "http://xdg-global/"
    write_conf(tmp_path / "home/.pip/pip.conf", "[global]\nindex_url = http://legacy/\n")
    assert index_url(home) == "http://legacy/"
    write_conf(tmp_path / "home/.config/pip/pip.conf", "[global]\nindex-url = http://user/\n")
    assert index_url(home) == "http://user/"
    venv = {**home, "VIRTUAL_ENV": str(tmp_path / "venv")}
    write_conf(tmp_path / "venv/pip.conf", "[global]\nindex-url = http://venv/\n")
    assert index_url(venv) == "http://venv/"
    explicit = write_conf(tmp_path / "explicit.conf", "[global]\nindex-url = http://explicit/\n")
    assert index_url({**venv, "PIP_CONFIG_FILE": str(explicit)}) == "http://explicit/"


def test_install_section_beats_global_in_any_file(home, tmp_path):
    write_conf(tmp_path / "home/.pip/pip.conf", "[install]\nindex-url = http://install/\n")
    write_conf(tmp_path / "home/.config/pip/pip.conf", "[global]\nindex-url = http://global/\n")
    assert index_url(home) == "http://install/"


def test_explicit_config_file_skips_user_files(home, tmp_path):
    write_conf(tmp_path / "home/.config/pip/pip.conf", "[install]\nindex-url = http://user/\n")
    explicit = write_conf(tmp_path / "explicit.conf", "[global]\ntimeout = 5\n")
    assert str(tmp_path / "home/.config/pip/pip.conf") not in map(str, config_files({**home, "PIP_CONFIG_FILE": str(explicit)}))
    assert index_url({**home, "PIP_CONFIG_FILE": str(explicit)}) != "http://user/"


def test_unreadable_file_is_skipped(home, tmp_path):
    write_conf(tmp_path / "home/.pip/pip.conf", "[global]\nindex-url = http://legacy/\n")
    write_conf(tmp_path / "home/.config/pip/pip.conf", "this is [not ini\n")
    assert index_url(home) == "http://legacy/"
