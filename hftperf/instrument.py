"""Instrument quality: was the target saturated, did the load generator fall behind, or both fine?

Pure functions of a ``ScenarioResult``'s figures (so a report, a compare and the run's verdict
all read the same sentence from the same file). Two lags tell two stories:

- *connection wait*: a request fell due while every connection was busy. That is real latency
  a client sees, and it means the **target** is saturated at this rate and concurrency.
- *pacer lag*: a connection was free but the load generator sent late. That is the
  instrument's own error; above its bound the latencies (and every verdict on them) are
  INCONCLUSIVE.

The bound is ``max(max_pacer_lag, 10% of the p50 latency)``; ``max_pacer_lag`` defaults to 1 ms
(``[run] max_pacer_lag``).

A third story is the machine's: *CPU steal* (``hftperf.loadgen.machine``) is time the hypervisor
withheld from every process here, a local target included. Steal only ever makes a figure worse
(latency up, throughput down), so under it a met threshold is still met; a failed one is a verdict
only when it fails by more than the steal can explain (``steal_explains``), else INCONCLUSIVE.
That applies when the steal of a measured interval exceeded ``[run] max_steal`` (default 10%),
open and closed loop. A comparison judges noise from the spread of its own rounds or repeats, so
``compare`` and ``ab`` leave out only samples whose pacer ran late (``Diagnosis.pacer_late``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hftperf.result import ScenarioResult
from hftperf.units import format_duration_us, format_rate

__all__ = [
    "MAX_PACER_LAG_US",
    "MAX_STEAL_SHARE",
    "PACER_LAG_FRACTION",
    "SATURATION_WAIT_SHARE",
    "STEAL_NOTE_SHARE",
    "Diagnosis",
    "diagnose",
    "inconclusive_reason",
    "is_saturated",
    "machine_starved",
    "pacer_lag_bound_us",
    "steal_explains",
]

MAX_PACER_LAG_US = 1_000.0  # default floor of the pacer-lag bound ([run] max_pacer_lag)
PACER_LAG_FRACTION = 0.10  # ... or 10% of the measured p50, whichever is larger
SATURATION_WAIT_SHARE = 0.01  # connection waits on more than 1% of requests: the target is saturated
STEAL_NOTE_SHARE = 0.02  # CPU steal worth naming in the evidence (a dedicated machine has none)
MAX_STEAL_SHARE = 0.10  # default [run] max_steal: an interval's CPU steal above it starves the machine

State = Literal["ok", "saturated", "fell_behind", "machine_starved", "unknown"]


def pacer_lag_bound_us(p50_us: float | None, floor_us: float = MAX_PACER_LAG_US) -> float:
    """The largest pacer-lag p99 that still measures: ``floor_us`` or 10% of the p50, the larger."""
    return max(floor_us, PACER_LAG_FRACTION * float(p50_us or 0.0))


def is_saturated(sent: int, connection_waits: int, not_sent: int) -> bool:
    """True when more than 1% of the sent requests waited for a connection, or any was never sent."""
    return not_sent > 0 or connection_waits > SATURATION_WAIT_SHARE * max(sent, 1)


@dataclass(frozen=True)
class Diagnosis:
    """What the instrument-quality section says about one open-loop scenario, with its evidence."""

    scenario: str
    state: State
    sentence: str
    pacer_lag_p99_us: float | None
    bound_us: float
    connection_waits: int
    connection_wait_p99_us: float | None
    not_sent: int
    served_rps: float | None  # answers per second (measured period plus drain): what the target sustained
    cpu_s: float | None  # the load generator's user + system CPU over the run
    cpu_share: float | None  # ... as a share of one core
    load_1m: tuple[float, ...]  # the machine's 1-minute load average, per interval
    steal: tuple[float, ...] = ()  # the machine's CPU steal share (hypervisor withheld), per interval
    # per interval: (start s, load generator CPU as a share of a core or None, machine load or None)
    intervals: tuple[tuple[float, float | None, float | None], ...] = ()
    pacer_late: bool = False  # the pacer-lag quantile exceeded its bound (whatever the state says first)

    @property
    def inconclusive(self) -> bool:
        """True when the load generator fell behind: no threshold of the scenario is a verdict."""
        return self.pacer_late

    def evidence(self) -> str:
        """'load generator CPU 1.20 s (31% of a core); machine load 0.8-3.1' (what is known)."""
        parts = []
        if self.cpu_s is not None:
            share = f" ({100.0 * self.cpu_share:.0f}% of a core)" if self.cpu_share is not None else ""
            parts.append(f"load generator CPU {self.cpu_s:.2f} s{share}")
        if self.load_1m:
            low, high = min(self.load_1m), max(self.load_1m)
            parts.append(f"machine load {low:.1f}" + (f"-{high:.1f}" if high - low >= 0.05 else ""))
        if self.steal and max(self.steal) >= STEAL_NOTE_SHARE:
            parts.append(f"CPU steal up to {100.0 * max(self.steal):.0f}% of an interval (the host withheld the CPU)")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (report ``--format json``)."""
        return {"scenario": self.scenario, "state": self.state, "sentence": self.sentence,
                "pacer_lag_p99_us": self.pacer_lag_p99_us, "bound_us": self.bound_us,
                "connection_waits": self.connection_waits, "connection_wait_p99_us": self.connection_wait_p99_us,
                "not_sent": self.not_sent, "served_rps": self.served_rps, "loadgen_cpu_s": self.cpu_s,
                "loadgen_cpu_share": self.cpu_share, "load_1m": list(self.load_1m), "steal_share": list(self.steal),
                "intervals": [{"start_s": start, "cpu_share": cpu, "load_1m": load}
                              for start, cpu, load in self.intervals]}

    def interval_evidence(self, limit: int = 30) -> str:
        """'0s 35%/1.9, 1s 12%/2.4, …': CPU share of the load generator and machine load per interval."""
        cells = [f"{start:g}s {'-' if cpu is None else f'{100.0 * cpu:.0f}%'}/{'-' if load is None else f'{load:.1f}'}"
                 for start, cpu, load in self.intervals[:limit]]
        more = f", … ({len(self.intervals) - limit} more)" if len(self.intervals) > limit else ""
        return ", ".join(cells) + more


def _p99(summary: Any) -> float | None:
    return float(summary["p99"]) if isinstance(summary, Mapping) and "p99" in summary else None


def lag_quantile(sent: int) -> str:
    """The pacer-lag quantile that ``sent`` values estimate (about 10 / (1 - q) needed, as compare's
    windows require): p99 from 1,000 requests, p90 from 100, else p50. A short round's "p99" is its
    largest value, and one scheduler hiccup would void every round of a short A/B."""
    return "p99" if sent >= 1000 else "p90" if sent >= 100 else "p50"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def machine_starved(result: ScenarioResult, bound: float | None = None) -> str | None:
    """Why the machine could not measure (CPU steal of an interval above ``bound``), or None.

    ``bound`` defaults to the one recorded with the result (``figures.max_steal_share``), else 10%.
    Results without a steal reading (another platform, or written before it) are never starved.
    """
    figures = result.figures
    steal = _number(figures.get("steal_share_max"))
    if steal is None:
        return None
    limit = bound if bound is not None else _number(figures.get("max_steal_share"))
    limit = MAX_STEAL_SHARE if limit is None else limit
    if steal <= limit:
        return None
    stall = _number(figures.get("steal_stall_us_max"))
    stall_text = f", stalls of up to {format_duration_us(stall)} possible" if stall else ""
    return (f"machine starved: the hypervisor withheld up to {100.0 * steal:.0f}% of the CPU time of an interval "
            f"(CPU steal, bound {100.0 * limit:.0f}%) from every process here, target included{stall_text}; "
            "a failure that steal can explain is INCONCLUSIVE")


def steal_explains(kind: str, op: str, observed: Any, limit: Any, steal: float, stall_us: float) -> bool:
    """True when a failed threshold could have met its limit on a machine without this steal.

    A duration that must stay below its limit could have been up to ``stall_us`` shorter (the
    longest stall the stolen time allows); a rate that must reach its limit could have been up to
    ``1 / (1 - steal)`` higher. Anything else (error rates, other directions) the steal may explain.
    """
    value, bound = _number(observed), _number(limit)
    if value is None or bound is None:
        return True
    if kind == "duration" and op in ("<", "<="):
        return value - stall_us <= bound
    if kind == "rate" and op in (">", ">=") and steal < 1.0:
        return value / (1.0 - steal) >= bound
    return True


def inconclusive_reason(result: ScenarioResult) -> str:
    """The sentence saying why an INCONCLUSIVE scenario is so (the pacer's diagnosis, else the machine's steal)."""
    diagnosis = diagnose(result)
    if diagnosis is not None and diagnosis.inconclusive:
        return diagnosis.sentence
    return machine_starved(result) or "the load generator fell behind"


def diagnose(result: ScenarioResult, floor_us: float | None = None) -> Diagnosis | None:
    """The diagnosis of an open-loop scenario; None for closed loop or in-process scenarios.

    ``floor_us`` defaults to the floor recorded with the result (``figures.max_pacer_lag_floor_us``),
    else 1 ms. Results written before the split (only ``schedule_lag_us``) get state "unknown".
    """
    figures = result.figures
    if "pacer_lag_us" not in figures and "schedule_lag_us" not in figures:
        return None
    if figures.get("pacer_lag_us") is None and figures.get("schedule_lag_us") is None:
        return None
    recorded_floor = _number(figures.get("max_pacer_lag_floor_us"))
    floor = floor_us if floor_us is not None else (recorded_floor or MAX_PACER_LAG_US)
    p50 = (result.latency_us or {}).get("p50")
    bound = pacer_lag_bound_us(p50, floor)
    intervals = figures.get("instrument_intervals")
    intervals = intervals if isinstance(intervals, list) else []
    rows = [i for i in intervals if isinstance(i, Mapping)]
    loads = tuple(float(i["load_1m"]) for i in rows if _number(i.get("load_1m")) is not None)
    steal = tuple(float(i["steal_share"]) for i in rows if _number(i.get("steal_share")) is not None)
    series = tuple((_number(i.get("start_s")) or 0.0, _number(i.get("cpu_share")), _number(i.get("load_1m")))
                   for i in rows)
    waits = int(_number(figures.get("connection_waits")) or 0)  # figures are free-form: never trust a type
    not_sent = int(_number(figures.get("not_sent")) or 0)
    split = "pacer_lag_us" in figures  # hftperf.result/1 has one lag for both causes
    quantile = lag_quantile(result.requests - not_sent) if split else "p99"
    lag_summary = figures.get("pacer_lag_us" if split else "schedule_lag_us")
    lag = float(lag_summary[quantile]) if isinstance(lag_summary, Mapping) and quantile in lag_summary else None
    diagnosis = Diagnosis(
        scenario=result.name, state="ok", sentence="instrument OK", pacer_lag_p99_us=lag, bound_us=bound,
        connection_waits=waits, connection_wait_p99_us=_p99(figures.get("connection_wait_us")), not_sent=not_sent,
        served_rps=result.throughput_rps or None, cpu_s=_number(figures.get("loadgen_cpu_s")),
        cpu_share=_number(figures.get("loadgen_cpu_share")), load_1m=loads, steal=steal, intervals=series,
    )
    if not split:
        sentence = (f"schedule lag p99 {format_duration_us(lag or 0.0)}, recorded before pacer lag and connection "
                    "wait were separated: a saturated target and a late load generator cannot be told apart")
        return dataclasses.replace(diagnosis, state="unknown", sentence=sentence)
    late = lag is not None and lag > bound
    diagnosis = dataclasses.replace(diagnosis, pacer_late=late)
    starved = machine_starved(result)
    if starved is not None and not late:  # the pacer kept time, the machine around it did not
        return dataclasses.replace(diagnosis, state="machine_starved", sentence=starved)
    if lag is not None and late:
        # Exclusive: a load generator that ran late also read answers late, so its connections
        # looked busy; its connection waits say nothing about the target then.
        sentence = (f"load generator fell behind: pacer lag {quantile} {format_duration_us(lag)} "
                    f"(bound {format_duration_us(bound)}); results INCONCLUSIVE")
        return dataclasses.replace(diagnosis, state="fell_behind", sentence=sentence)
    if is_saturated(result.requests - not_sent, waits, not_sent):
        rate = f" at about {format_rate(diagnosis.served_rps)}" if diagnosis.served_rps else ""
        never = f", {not_sent:,} were never sent" if not_sent else ""
        wait_p99 = format_duration_us(diagnosis.connection_wait_p99_us or 0.0)
        sentence = (f"target saturated{rate}: {waits:,} requests waited for a connection (p99 wait {wait_p99})"
                    f"{never}; raise `connections` or lower `rate` to measure latency below saturation")
        return dataclasses.replace(diagnosis, state="saturated", sentence=sentence)
    return diagnosis
