"""Result files on disk: the user's umask, atomic replacement, nothing left behind."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hftperf.atomic import current_umask
from hftperf.histogram import LatencyHistogram
from hftperf.hlog import HlogWriter
from hftperf.result import load_result, save_result

SMALL = Path(__file__).resolve().parents[1] / "data" / "results-small"


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
def test_result_json_is_written_with_the_umask(tmp_path: Path, umask: None, mask: int) -> None:
    run = load_result(SMALL)
    os.umask(mask)
    assert current_umask() == mask
    path = save_result(run, tmp_path / "out")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert sorted(p.name for p in path.parent.iterdir()) == ["result.json"]  # no temporary file left


def test_rewriting_replaces_the_file_atomically(tmp_path: Path, umask: None) -> None:
    run = load_result(SMALL)
    path = save_result(run, tmp_path)
    inode = path.stat().st_ino
    save_result(run, tmp_path)
    assert path.stat().st_ino != inode  # a new file renamed over the old one, never rewritten in place
    assert load_result(path) == run


def test_hlog_is_written_with_the_umask(tmp_path: Path, umask: None) -> None:
    os.umask(0o027)
    writer = HlogWriter(tmp_path / "x.hlog", 0.0)
    histogram = LatencyHistogram()
    histogram.record(100)
    writer.write_interval(0.0, 1.0, histogram)
    writer.close()
    assert stat.S_IMODE((tmp_path / "x.hlog").stat().st_mode) == 0o640


def test_config_files_are_data_never_code(tmp_path: Path) -> None:
    """A config that looks like Python (or TOML with code in strings) is parsed as TOML, nothing runs."""
    from hftperf.config import load_config
    from hftperf.errors import ConfigError

    marker = tmp_path / "ran"
    config = tmp_path / "evil.toml"
    config.write_text(f'import os; os.system("touch {marker}")\n')
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(config)
    config.write_text(
        f"[run]\nlabel = \"__import__('os').system('touch {marker}')\"\n[[scenario]]\nname = \"health-sequential\"\n"
    )
    with pytest.raises(ConfigError, match=r"run\.label"):
        load_config(config)
    assert not marker.exists()
