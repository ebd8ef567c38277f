"""The fast answer to an unchanged ``data add`` agrees with the ordinary path, or stays out.

``unchanged_version`` reads the embedded SQLite database with the sqlite3 module (not
SQLAlchemy) and the stat cache; whenever it returns a version, the ordinary path must return
the same one, and whenever anything differs it must return None so that the ordinary path runs.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlsteward._embedded_home import NEUTRAL_VARIABLES, embedded_home
from mlsteward.data import add_dataset_version
from mlsteward.data._stat_cache import RACY_MARGIN_NS
from mlsteward.data._unchanged_probe import unchanged_version
from mlsteward.platform import Platform
from mlsteward.security import LOCAL_ADMIN
from mlsteward.settings import Settings

from ._dataset_support import write_random

ROOT = Path(__file__).resolve().parents[2]
_PAST = time.time() - 3600


def _settle() -> None:
    """Let the files' ctime fall behind the stat cache's racy margin (it is not settable)."""
    time.sleep(RACY_MARGIN_NS / 1e9 + 0.02)


def _folder(root: Path, count: int = 5) -> Path:
    for i in range(count):
        path = write_random(root / f"sub-{i % 2}" / f"file-{i}.bin", 10_000 + i, seed=i)
        os.utime(path, (_PAST, _PAST))
    _settle()
    return root


def _added(platform: Platform, src: Path, name: str = "ds") -> None:
    add_dataset_version(platform, LOCAL_ADMIN, "default", name, src)


def test_an_unchanged_folder_gets_the_answer_of_the_ordinary_path(
    platform: Platform, settings: Settings, tmp_path: Path
) -> None:
    src = _folder(tmp_path / "src")
    _added(platform, src)
    fast = unchanged_version(settings.home, "default", "ds", src)
    ordinary = add_dataset_version(platform, LOCAL_ADMIN, "default", "ds", src)
    assert ordinary.unchanged
    assert fast is not None
    assert fast == ordinary
    assert fast.to_json() == ordinary.to_json()


def test_a_table_file_gets_the_answer_of_the_ordinary_path(
    platform: Platform, settings: Settings, tmp_path: Path
) -> None:
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,x\n2,y\n")
    os.utime(table, (_PAST, _PAST))
    _settle()
    _added(platform, table, "table")
    fast = unchanged_version(settings.home, "default", "table", table)
    ordinary = add_dataset_version(platform, LOCAL_ADMIN, "default", "table", table)
    assert fast is not None
    assert fast.kind == "table"
    assert fast.table_schema is not None
    assert fast.to_json() == ordinary.to_json()


@pytest.mark.parametrize("change", ["edit", "add", "remove", "touch"])
def test_any_change_to_the_files_leaves_it_to_the_ordinary_path(
    platform: Platform, settings: Settings, tmp_path: Path, change: str
) -> None:
    src = _folder(tmp_path / "src")
    _added(platform, src)
    target = src / "sub-0" / "file-0.bin"
    if change == "edit":
        target.write_bytes(b"other content")
    elif change == "add":
        (src / "new.txt").write_text("new")
    elif change == "remove":
        target.unlink()
    else:  # same bytes, new mtime: the cache cannot vouch for it without reading it
        os.utime(target)
    assert unchanged_version(settings.home, "default", "ds", src) is None
    version = add_dataset_version(platform, LOCAL_ADMIN, "default", "ds", src)
    assert version.unchanged == (change == "touch")


def test_a_newer_version_with_other_content_is_not_unchanged(
    platform: Platform, settings: Settings, tmp_path: Path
) -> None:
    first, second = _folder(tmp_path / "first"), _folder(tmp_path / "second", count=3)
    _added(platform, first)
    _added(platform, second)  # the latest version is now another content
    assert unchanged_version(settings.home, "default", "ds", first) is None
    assert add_dataset_version(platform, LOCAL_ADMIN, "default", "ds", first).version == 3


def test_missing_names_stores_and_blobs_leave_it_to_the_ordinary_path(
    platform: Platform, settings: Settings, tmp_path: Path
) -> None:
    src = _folder(tmp_path / "src")
    _added(platform, src)
    home = settings.home
    assert unchanged_version(home, "default", "other", src) is None  # no such dataset
    assert unchanged_version(home, "elsewhere", "ds", src) is None  # no such project
    assert unchanged_version(tmp_path / "no-home", "default", "ds", src) is None
    assert unchanged_version(home, "default", "ds", tmp_path / "missing") is None
    assert unchanged_version(home, "default", "ds", src) is not None
    objects = sorted((home / "blobs" / "objects").rglob("*"))
    next(p for p in objects if p.is_file()).unlink()  # one blob lost
    assert unchanged_version(home, "default", "ds", src) is None


def test_a_schema_behind_this_release_leaves_it_to_the_ordinary_path(
    platform: Platform, settings: Settings, tmp_path: Path
) -> None:
    src = _folder(tmp_path / "src")
    _added(platform, src)
    platform.close()
    with sqlite3.connect(settings.home / "mlsteward.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0009'")
    assert unchanged_version(settings.home, "default", "ds", src) is None


def test_only_the_embedded_default_is_probed() -> None:
    assert embedded_home({}) == Path.home() / ".mlsteward"
    assert embedded_home({"MLSTEWARD_HOME": "/srv/ml", "PATH": "/bin"}) == Path("/srv/ml")
    assert embedded_home({"mlsteward_home": "~/ml"}) == Path.home() / "ml"
    assert embedded_home({"MLSTEWARD_HOME": ""}) is None
    assert embedded_home({"MLSTEWARD_SOMETHING_NEW": "1"}) is None
    # Every setting but the neutral ones may change where or how data is stored.
    for field in set(Settings.model_fields) - {"home"}:
        variable = f"MLSTEWARD_{field.upper()}"
        expected = Path("/h") if variable in NEUTRAL_VARIABLES else None
        assert embedded_home({"MLSTEWARD_HOME": "/h", variable: "x"}) == expected, variable


def test_the_command_answers_without_sqlalchemy_or_the_settings(
    platform: Platform, settings: Settings, tmp_path: Path
) -> None:
    src = _folder(tmp_path / "src")
    _added(platform, src)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MLSTEWARD_")}
    env["MLSTEWARD_HOME"] = str(settings.home)
    code = (
        "import sys\n"
        f"sys.argv = ['mlsteward', 'data', 'add', {str(src)!r}, '--name', 'ds', '--json']\n"
        "from mlsteward.cli import main\n"
        "try:\n    main()\nfinally:\n"
        "    loaded = {'sqlalchemy', 'pydantic_settings'} & set(sys.modules)\n"
        "    print('loaded:', sorted(loaded), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "loaded: []" in done.stderr
    assert '"unchanged": true' in done.stdout
    env["MLSTEWARD_LOG_LEVEL"] = "DEBUG"
    env["MLSTEWARD_BLOB_URL"] = str(settings.home / "blobs")  # not the default: full path
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "'sqlalchemy'" in done.stderr
    assert '"unchanged": true' in done.stdout
