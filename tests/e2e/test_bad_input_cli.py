"""Bad input through the real CLI: exit 2 and one line naming the file and the problem, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "tests" / "data" / "results-small"


def hftperf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hftperf", *args], capture_output=True, text=True, timeout=120, cwd=REPO
    )


def _one_error_line(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hftperf: error: "), done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (b"\x00\xff\xfe binary", ("expected UTF-8",)),
        (b'[run]\ndeadline = "soon"\n[[scenario]]\nname = "health-sequential"\n', ("run.deadline", "duration")),
        (
            b'[run]\nredact_headers = "Authorization"\n[[scenario]]\nname = "health-sequential"\n',
            ("run.redact_headers", "list"),
        ),
        (b'[[scenario]]\nname = "health-sequential"\nduration = "1e400s"\n', ("duration", "30 days")),
        (b'[[scenario]]\nname = "health-sequential"\nduration = "1e300s"\n', ("duration", "30 days")),
        (b'[[scenario]]\nname = "health-sequential"\nthresholds = ["p99 < 1e999ms"]\n', ("thresholds[0]",)),
        (b'[[scenario]]\nname = "order-latency"\nrate = [1, 2]\n', ("rate",)),
        (b"scenario = 3\n", ("scenario",)),
    ],
)
def test_bad_config_exits_2_with_one_line(tmp_path: Path, content: bytes, needles: tuple[str, ...]) -> None:
    config = tmp_path / "bad.toml"
    config.write_bytes(content)
    done = hftperf("run", "--config", str(config), "--out", str(tmp_path / "out"), "-q")
    _one_error_line(done, str(config), *needles)
    assert not (tmp_path / "out").exists()


def _results(tmp_path: Path) -> Path:
    copy = tmp_path / "results"
    shutil.copytree(SMALL, copy)
    return copy


def test_truncated_result_json(tmp_path: Path) -> None:
    results = _results(tmp_path)
    text = (results / "result.json").read_text()
    (results / "result.json").write_text(text[: len(text) // 2])
    _one_error_line(hftperf("report", str(results)), "result.json", "not valid JSON")


def test_hand_edited_result_json(tmp_path: Path) -> None:
    results = _results(tmp_path)
    document = json.loads((results / "result.json").read_text())
    document["scenarios"][0]["requests"] = "lots"
    (results / "result.json").write_text(json.dumps(document))
    _one_error_line(hftperf("report", str(results)), "result.json", "scenarios[0].requests")


def test_corrupt_histogram_in_result_json(tmp_path: Path) -> None:
    results = _results(tmp_path)
    document = json.loads((results / "result.json").read_text())
    document["scenarios"][0]["histogram"] = "HISTFAAAAC" + "A" * 40
    (results / "result.json").write_text(json.dumps(document))
    _one_error_line(hftperf("report", str(results), "--format", "json"), "result.json")


def test_truncated_hlog_when_the_report_draws_timelines(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    results = _results(tmp_path)
    hlog = results / "health-sequential.hlog"
    data = hlog.read_bytes()
    hlog.write_bytes(data[: len(data) - 40])
    done = hftperf("report", str(results), "--format", "html", "--out", str(tmp_path / "report.html"))
    _one_error_line(done, "health-sequential.hlog")
