"""The instrument diagnosis: pure function of a result's figures; old results still read and report."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from hftperf.compare import compare_runs
from hftperf.instrument import diagnose, is_saturated, pacer_lag_bound_us
from hftperf.reports.markdown import render_markdown
from hftperf.result import ScenarioResult, ThresholdResult, load_result

DATA = Path(__file__).resolve().parents[1] / "data"


def _summary(p99: float) -> dict[str, float]:
    return {"p50": p99 / 2, "p90": p99 * 0.9, "p99": p99, "p99_9": p99, "max": p99, "mean": p99 / 2}


def _open_loop(pacer_p99_us: float, waits: int = 0, not_sent: int = 0, p50_us: float = 2_000.0,
               **figures: Any) -> ScenarioResult:
    return ScenarioResult(
        name="orders", kind="open-loop", requests=1000 + not_sent, ok=1000, errors={"not_sent": not_sent},
        in_flight=0, duration_s=5.0, throughput_rps=190.0, histogram=None,
        latency_us={**_summary(p50_us * 2), "p50": p50_us},
        figures={"pacer_lag_us": _summary(pacer_p99_us), "connection_wait_us": _summary(4_000_000.0 if waits else 0.0),
                 "connection_waits": waits, "not_sent": not_sent, "loadgen_cpu_s": 1.5, "loadgen_cpu_share": 0.3,
                 "instrument_intervals": [{"start_s": 0.0, "cpu_share": 0.25, "load_1m": 0.5},
                                          {"start_s": 1.0, "cpu_share": None, "load_1m": 3.25}], **figures},
        thresholds=(ThresholdResult("p99", "< 50ms", 4000.0, True, 92.0),),
    )


def test_bound_is_the_larger_of_the_floor_and_a_tenth_of_p50() -> None:
    assert pacer_lag_bound_us(2_000.0) == 1_000.0
    assert pacer_lag_bound_us(50_000.0) == 5_000.0
    assert pacer_lag_bound_us(None, floor_us=250.0) == 250.0


def test_saturation_is_more_than_one_percent_waiting_or_any_never_sent() -> None:
    assert not is_saturated(1000, 10, 0) and is_saturated(1000, 11, 0) and is_saturated(1000, 0, 1)


def test_instrument_ok() -> None:
    diagnosis = diagnose(_open_loop(50.0, waits=3))
    assert diagnosis is not None and diagnosis.state == "ok" and diagnosis.sentence == "instrument OK"
    assert not diagnosis.inconclusive


def test_target_saturated_names_the_rate_the_waits_and_the_remedy() -> None:
    diagnosis = diagnose(_open_loop(50.0, waits=800, not_sent=5))
    assert diagnosis is not None and diagnosis.state == "saturated" and not diagnosis.inconclusive
    assert diagnosis.sentence.startswith("target saturated at about 190/s: 800 requests waited for a connection "
                                         "(p99 wait 4.00s), 5 were never sent; raise `connections` or lower `rate`")
    assert "fell behind" not in diagnosis.sentence
    assert diagnosis.evidence() == "load generator CPU 1.50 s (30% of a core); machine load 0.5-3.2"
    assert diagnosis.interval_evidence() == "0s 25%/0.5, 1s -/3.2"


def test_load_generator_fell_behind_is_inconclusive_and_says_nothing_of_the_target() -> None:
    # A late load generator also reads answers late: its connection waits prove nothing.
    diagnosis = diagnose(_open_loop(4_000.0, waits=800))
    assert diagnosis is not None and diagnosis.inconclusive
    assert diagnosis.sentence == "load generator fell behind: pacer lag p99 4.00ms (bound 1.00ms); results INCONCLUSIVE"


def test_the_recorded_floor_and_an_explicit_one_set_the_bound() -> None:
    lenient = _open_loop(4_000.0, max_pacer_lag_floor_us=5_000.0)
    assert not diagnose(lenient).inconclusive  # type: ignore[union-attr]
    assert diagnose(lenient, floor_us=1_000.0).inconclusive  # type: ignore[union-attr]


def test_as_inconclusive_marks_every_threshold_and_fails_the_scenario() -> None:
    result = _open_loop(4_000.0).as_inconclusive()
    assert result.inconclusive and not result.passed
    assert [t.status for t in result.thresholds] == ["INCONCLUSIVE"]


def test_closed_loop_and_in_process_scenarios_have_no_diagnosis() -> None:
    closed = dataclasses.replace(_open_loop(1.0), figures={"error_rate": 0.0, "pacer_lag_us": None})
    assert diagnose(closed) is None


@pytest.mark.parametrize("directory", ["results-small", "results-failed"])
def test_results_from_before_the_split_read_and_report(directory: str) -> None:
    run = load_result(DATA / directory)  # hftperf.result/1, schedule_lag only
    assert not run.inconclusive and all(not t.inconclusive for s in run.scenarios for t in s.thresholds)
    text = render_markdown(run)
    assert "cannot be told apart" in text.split("## Instrument quality")[1]
    states = {d.state for s in run.scenarios if (d := diagnose(s)) is not None}
    assert states == {"unknown"}


def test_results_from_before_the_split_compare() -> None:
    comparison = compare_runs(DATA / "compare" / "base", DATA / "compare" / "slow")
    assert comparison.regressions and not comparison.inconclusive


def test_compare_refuses_a_regression_on_a_starved_sample(tmp_path: Path) -> None:
    import shutil

    from hftperf.compare.stats import Verdict
    from hftperf.result import save_result

    head = tmp_path / "slow"
    shutil.copytree(DATA / "compare" / "slow", head)
    run = load_result(head)
    starved = [dataclasses.replace(s, figures={**s.figures, "pacer_lag_us": _summary(30_000.0)})
               for s in run.scenarios]
    save_result(dataclasses.replace(run, scenarios=tuple(starved)), head)
    comparison = compare_runs(DATA / "compare" / "base", head)
    assert not comparison.regressions
    assert comparison.inconclusive and all(m.verdict is Verdict.INCONCLUSIVE for m in comparison.metrics
                                           if m.scenario == starved[0].name)
    reason = comparison.inconclusive[0].reason
    assert reason.startswith("head") and "load generator fell behind: pacer lag p99 30.00ms" in reason
    assert comparison.to_dict()["metrics"][0]["reason"] == reason


def test_ab_leaves_starved_rounds_out_and_refuses_a_verdict_when_too_few_remain() -> None:
    from hftperf.compare.ab import AbRound, compare_rounds

    def side(p50_us: float, pacer_p99_us: float) -> ScenarioResult:
        return dataclasses.replace(_open_loop(pacer_p99_us, p50_us=p50_us), name="load")

    one_starved = [AbRound(i, i % 2 == 0, side(2_000.0, 50.0), side(4_000.0, 30_000.0 if i == 3 else 50.0))
                   for i in range(8)]
    comparison = compare_rounds(one_starved, "http://a", "http://b")
    assert comparison.regressions and not comparison.inconclusive  # 7 clean rounds still decide
    assert any("1 of 8 rounds left out" in w and "round 4 B: load generator fell behind" in w
               for w in comparison.warnings), comparison.warnings
    assert all(m.estimate.n_base == 7 for m in comparison.metrics if m.estimate.n_base)
    mostly_starved = [dataclasses.replace(r, b=side(4_000.0, 30_000.0 if r.index < 6 else 50.0))
                      for r in one_starved]
    comparison = compare_rounds(mostly_starved, "http://a", "http://b")
    assert not comparison.regressions and comparison.inconclusive  # 2 clean rounds: no verdict
    assert comparison.inconclusive[0].reason.startswith("round 1 B: load generator fell behind")


def test_interval_logs_from_before_the_split_still_read() -> None:
    from hftperf.hlog import read_hlog

    log = read_hlog(DATA / "results-small" / "order-latency.hlog")
    assert "schedule_lag" in log.tags() and log.merged("schedule_lag").total_count == log.merged().total_count > 0


def test_hand_edited_figures_do_not_break_the_diagnosis() -> None:
    plain = _open_loop(50.0)
    odd = dataclasses.replace(plain, figures={**plain.figures, "connection_waits": "many", "not_sent": None,
                                              "instrument_intervals": "x", "loadgen_cpu_s": [1]})
    diagnosis = diagnose(odd)
    assert diagnosis is not None and diagnosis.connection_waits == 0 and diagnosis.load_1m == ()


def test_cpu_steal_is_named_in_the_evidence_when_the_host_withheld_the_cpu() -> None:
    intervals = [{"start_s": 0.0, "cpu_share": 0.25, "load_1m": 0.5, "steal_share": 0.01},
                 {"start_s": 1.0, "cpu_share": 0.25, "load_1m": 0.5, "steal_share": 0.31}]
    diagnosis = diagnose(_open_loop(50.0, instrument_intervals=intervals))
    assert diagnosis is not None and diagnosis.steal == (0.01, 0.31)
    assert diagnosis.to_dict()["steal_share"] == [0.01, 0.31]
    assert diagnosis.evidence().endswith("; CPU steal up to 31% of an interval (the host withheld the CPU)")
    quiet = diagnose(_open_loop(50.0, instrument_intervals=intervals[:1]))
    assert quiet is not None and "steal" not in quiet.evidence()  # 1%: not worth a word


def test_steal_meter_reads_the_share_the_hypervisor_withheld(tmp_path: Path) -> None:
    from hftperf.loadgen.machine import StealMeter

    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 1 2 3\n")
    meter = StealMeter(str(stat))
    stat.write_text("cpu  150 0 70 900 10 0 5 65 0 0\ncpu0 1 2 3\n")  # 200 jiffies later, 30 of them stolen
    assert meter.share() == pytest.approx(30 / 200)
    assert meter.share() is None  # no time passed
    assert StealMeter(str(tmp_path / "absent")).share() is None  # not Linux: unknown, never 0


def test_on_a_starved_machine_only_failures_its_steal_can_explain_are_inconclusive() -> None:
    from hftperf.instrument import machine_starved
    from hftperf.scenario_results import judged
    from hftperf.thresholds import parse_threshold

    # 31% of both CPUs' time withheld in a 1 s interval: a stall of up to 620 ms is possible
    stolen = _open_loop(50.0, steal_share_max=0.31, steal_stall_us_max=620_000.0)
    diagnosis = diagnose(stolen)
    assert diagnosis is not None and diagnosis.state == "machine_starved" and not diagnosis.inconclusive
    assert not diagnosis.pacer_late  # compare and ab leave out only samples whose pacer ran late
    assert diagnosis.sentence.startswith("machine starved: the hypervisor withheld up to 31% of the CPU time")
    assert "stalls of up to 620.00ms possible" in diagnosis.sentence

    def statuses(result: ScenarioResult, *texts: str, max_steal: float = 0.10) -> list[str]:
        checked = judged(result, [parse_threshold(t) for t in texts], None, max_steal)
        assert checked.inconclusive == ("INCONCLUSIVE" in [t.status for t in checked.thresholds])
        return [t.status for t in checked.thresholds]

    # p99 is 4 ms: met stays met (steal only makes figures worse); failed by less than the stall: unknown
    assert statuses(stolen, "p99 < 50ms", "p99 < 1ms", "p50 < 1us") == ["MEETS", "INCONCLUSIVE", "INCONCLUSIVE"]
    # throughput 190/s: even 1/(1-0.31) of it (275/s) misses 100000/s, a verdict; 250/s it could have reached
    assert statuses(stolen, "throughput_rps >= 100000/s", "throughput_rps >= 250/s") == ["FAILS", "INCONCLUSIVE"]
    assert statuses(stolen, "p99 < 1ms", max_steal=0.50) == ["FAILS"]  # [run] max_steal = "50%"
    assert judged(stolen, [parse_threshold("p99 < 1ms")], None, 0.5).figures["max_steal_share"] == 0.5
    closed = dataclasses.replace(stolen, figures={"steal_share_max": 0.31, "steal_stall_us_max": 620_000.0})
    assert diagnose(closed) is None and machine_starved(closed) is not None  # no pacer: still the machine's
    assert statuses(closed, "p99 < 1ms") == ["INCONCLUSIVE"]
    quiet = dataclasses.replace(stolen, figures={"steal_share_max": 0.04, "steal_stall_us_max": 80_000.0})
    assert statuses(quiet, "p99 < 1ms") == ["FAILS"]
    late_and_stolen = diagnose(_open_loop(4_000.0, steal_share_max=0.31))
    assert late_and_stolen is not None and late_and_stolen.state == "fell_behind" and late_and_stolen.inconclusive
    assert "CPU steal up to" not in late_and_stolen.evidence()  # no per-interval rows in this fixture


def test_a_conclusive_failure_beside_an_inconclusive_one_exits_1() -> None:
    from hftperf.cli.run import run_exit_code
    from hftperf.errors import ExitCode
    from hftperf.result import RunResult
    from hftperf.scenario_results import judged
    from hftperf.thresholds import parse_threshold

    stolen = _open_loop(50.0, steal_share_max=0.31, steal_stall_us_max=620_000.0)

    def code(*texts: str) -> ExitCode:
        scenario = judged(stolen, [parse_threshold(t) for t in texts], None, 0.10)
        return run_exit_code(RunResult(label="x", environment={}, scenarios=(scenario,), passed=scenario.passed,
                                       started_at="2026-12-02T00:00:00Z", ended_at="2026-12-02T00:00:10Z"))

    assert code("p99 < 50ms") == ExitCode.OK
    assert code("p99 < 1ms") == ExitCode.INCONCLUSIVE
    assert code("p99 < 1ms", "throughput_rps >= 100000/s") == ExitCode.FAILED  # a verdict even on this machine
