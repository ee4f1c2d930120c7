"""``hftperf compare`` on committed results of real runs (tests/data/compare, see make.py there).

base and same: two runs against a server answering after 2 ms; slow: 3 ms; fast: 1 ms;
solo and other have no scenario in common.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "compare"


def hftperf(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env={**os.environ, **(env or {})})


def as_json(*args: str) -> dict:
    done = hftperf("compare", *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def verdict_of(document: dict, scenario: str, metric: str) -> str:
    return next(m["verdict"] for m in document["metrics"] if m["scenario"] == scenario and m["metric"] == metric)


def test_a_slower_build_is_a_regression_and_gates_ci() -> None:
    document = as_json(str(DATA / "base"), str(DATA / "slow"))
    assert document["regression"] is True
    for metric in ("p50", "mean", "throughput_rps"):
        assert verdict_of(document, "health-concurrent", metric) == "regression"
    p50 = next(m for m in document["metrics"] if m["scenario"] == "health-concurrent" and m["metric"] == "p50")
    assert p50["change_pct"] > 20 and p50["ci_low"] > 5 and p50["p_adjusted"] < 0.05 and p50["source"] == "intervals"
    gated = hftperf("compare", str(DATA / "base"), str(DATA / "slow"), "--fail-on-regression")
    assert gated.returncode == 1, gated.stderr
    assert "regression" in gated.stdout and "Traceback" not in gated.stderr
    assert hftperf("compare", str(DATA / "base"), str(DATA / "slow")).returncode == 0  # report only


def test_a_faster_build_is_an_improvement() -> None:
    document = as_json(str(DATA / "base"), str(DATA / "fast"))
    assert document["regression"] is False
    assert verdict_of(document, "health-concurrent", "p50") == "improvement"
    assert verdict_of(document, "health-concurrent", "throughput_rps") == "improvement"
    assert hftperf("compare", str(DATA / "base"), str(DATA / "fast"), "--fail-on-regression").returncode == 0


def test_two_runs_of_the_same_build_flag_nothing() -> None:
    document = as_json(str(DATA / "base"), str(DATA / "same"))
    assert document["counts"]["regression"] == 0 and document["counts"]["improvement"] == 0
    assert hftperf("compare", str(DATA / "base"), str(DATA / "same"), "--fail-on-regression").returncode == 0


def test_markdown_puts_regressions_first_and_folds_the_rest() -> None:
    done = hftperf("compare", str(DATA / "base"), str(DATA / "slow"), "--format", "markdown")
    text = done.stdout
    assert text.startswith("### hftperf compare: **regression**")
    assert text.index("#### Regressions") < text.index("<details>") < text.index("</details>")
    assert "| scenario | metric | base | head | change | CI | p | tolerance | n | verdict |" in text


def test_step_summary_is_appended(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    done = hftperf("compare", str(DATA / "base"), str(DATA / "fast"), env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 0, done.stderr
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "### hftperf compare: no regression" in text
    assert "#### Improvements" in text


def test_scenarios_on_one_side_are_listed() -> None:
    done = hftperf("compare", str(DATA / "base"), str(DATA / "solo"))
    assert done.returncode == 0, done.stderr
    assert "only in base (not compared): health-sequential" in done.stdout


def test_tolerance_flags_and_config_change_the_verdict(tmp_path: Path) -> None:
    loose = as_json(str(DATA / "base"), str(DATA / "slow"), "--tolerance", "all=90%")
    assert loose["regression"] is False
    config = tmp_path / "compare.toml"
    config.write_text('[compare]\nalpha = 0.01\n[compare.tolerance]\np50 = "90%"\n')
    document = as_json(str(DATA / "base"), str(DATA / "slow"), "--config", str(config))
    assert verdict_of(document, "health-concurrent", "p50") == "no significant change"
    assert document["alpha"] == 0.01
    assert verdict_of(document, "health-concurrent", "p90") == "regression"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["solo", "other"], "no common scenario"),
        (["base", "missing"], "compare/missing: no such result file"),
        (["base", "slow", "--tolerance", "p42=5%"], "--tolerance p42: unknown metric"),
        (["base", "slow", "--alpha", "2"], "'--alpha': expected a significance level between 0 and 1"),
        (["base", "slow", "--format", "xml"], "--format': expected one of table, markdown, json, got 'xml'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    paths = [str(DATA / a) if not a.startswith("-") and a in ("solo", "other", "base", "slow", "missing") else a
             for a in args]
    done = hftperf("compare", *paths)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_other_schema_and_corrupt_files_exit_2(tmp_path: Path) -> None:
    head = tmp_path / "head"
    shutil.copytree(DATA / "slow", head)
    document = json.loads((head / "result.json").read_text())
    document["schema"] = "hftperf.result/99"
    (head / "result.json").write_text(json.dumps(document))
    done = hftperf("compare", str(DATA / "base"), str(head))
    assert done.returncode == 2 and "unsupported result schema 'hftperf.result/99'" in done.stderr
    (head / "result.json").write_text('{"schema": "hftperf.result/1", "label": ')
    done = hftperf("compare", str(DATA / "base"), str(head))
    assert done.returncode == 2 and "not valid JSON" in done.stderr
    shutil.rmtree(head)
    shutil.copytree(DATA / "slow", head)
    (head / "health-concurrent.hlog").write_text("#[Histogram log format version 1.3]\n0.0,1.0,2.0,@@@notbase64\n")
    done = hftperf("compare", str(DATA / "base"), str(head))
    assert done.returncode == 2 and "health-concurrent.hlog" in done.stderr and "Traceback" not in done.stderr
