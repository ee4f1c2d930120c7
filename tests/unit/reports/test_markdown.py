"""Golden checks of the report on committed results directories (real runs of the bundled stack)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from hftperf.reports import render
from hftperf.reports.markdown import render_markdown
from hftperf.reports.model import summary_dict
from hftperf.result import load_result

DATA = Path(__file__).resolve().parents[2] / "data"
SMALL = DATA / "results-small"
FAILED = DATA / "results-failed"
SECTIONS = ["# hftperf performance report", "## Targets", "## Scenarios", "## Capacity", "## Complexity",
            "## Bottleneck analysis", "## Instrument quality", "## Environment"]


def _rows(markdown: str, heading: str) -> list[list[str]]:
    section = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| ") ]


def test_every_section_in_order_and_verdict_all_met() -> None:
    text = render_markdown(load_result(SMALL))
    positions = [text.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)
    assert "**Verdict: All 13 targets met.**" in text
    assert "FAILS" not in text
    assert re.search(r"\*\*(Network and client time|Gateway processing|Engine matching|Database writes) (is|are) "
                     r"\d+% of p99 latency in order-latency", text)
    assert "◀ knee" in text and "O(log n)" in text and "| git_commit |" in text


def test_failed_threshold_is_the_first_targets_row() -> None:
    text = render_markdown(load_result(FAILED))
    assert "**Verdict: 1 of 13 targets failed.**" in text
    rows = _rows(text, "## Targets")[1:]
    assert rows[0][:3] == ["order-latency", "p99", "< 1us"] and rows[0][4] == "FAILS"
    assert [r for r in rows if r[4] == "FAILS"] == [rows[0]]


def test_json_has_the_same_figures_as_the_tables() -> None:
    run = load_result(FAILED)
    data = json.loads(render(run, "json", FAILED, None, None))
    assert data == json.loads(json.dumps(summary_dict(run)))
    assert data["passed"] is False and data["verdict"] == "1 of 13 targets failed."
    first = data["targets"][0]
    assert (first["scenario"], first["metric"], first["passed"]) == ("order-latency", "p99", False)
    latency = {s["scenario"]: s["latency_us"] for s in data["scenarios"]}
    assert latency["order-latency"]["p99"] == run.scenarios[2].latency_us["p99"]  # type: ignore[index]
    shares = data["bottlenecks"][0]["shares"]["p99"]
    assert abs(sum(shares.values()) - 1.0) < 1e-9


def test_html_is_self_contained(tmp_path: Path) -> None:
    page = render(load_result(SMALL), "html", SMALL, tmp_path / "plots", tmp_path / "r.html")
    assert page.startswith("<!DOCTYPE html>") and "Bottleneck analysis" in page
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert all(ref.startswith("data:") for ref in refs)


def test_markdown_plot_links_are_relative_to_the_file(tmp_path: Path) -> None:
    out = tmp_path / "report" / "r.md"
    out.parent.mkdir()
    text = render(load_result(SMALL), "markdown", SMALL, tmp_path / "plots", out)
    for link in re.findall(r"\]\(([^)]+\.png)\)", text):
        assert not link.startswith("/") and (out.parent / link).resolve().is_file()


def _hftperf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hftperf", "report", *args], capture_output=True, text=True,
                          timeout=120)


def test_report_cli_writes_markdown(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    done = _hftperf(str(FAILED), "--out", str(out), "--plots", str(tmp_path / "plots"))
    assert done.returncode == 0, done.stderr
    assert "1 of 13 targets failed" in out.read_text()


def test_report_cli_json_to_stdout() -> None:
    done = _hftperf(str(SMALL), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["label"] == "small"


def test_report_cli_missing_and_corrupt_result_exit_2_with_one_line(tmp_path: Path) -> None:
    missing = _hftperf(str(tmp_path))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "result.json" in missing.stderr
    (tmp_path / "result.json").write_text("{not json")
    corrupt = _hftperf(str(tmp_path))
    assert corrupt.returncode == 2
    assert corrupt.stderr.strip().count("\n") == 0 and "not valid JSON" in corrupt.stderr


def test_stack_services_that_died_are_named_under_the_verdict() -> None:
    import dataclasses

    run = load_result(SMALL)
    line = "service api exited with status 3; last log lines: fatal: out of memory"
    text = render_markdown(dataclasses.replace(run, environment={**run.environment, "stack_failures": [line]}))
    head = text.split("## Targets", 1)[0]
    assert "Stack services that stopped during the run" in head and f"- {line}" in head
    assert "Stack services" not in render_markdown(run)
