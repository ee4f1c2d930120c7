"""Results directories made of synthetic latencies from known distributions (for compare tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hftperf.environment import collect_environment
from hftperf.histogram import LatencyHistogram
from hftperf.hlog import HlogWriter
from hftperf.result import ScenarioResult, build_run_result, save_result

ENVIRONMENT = collect_environment("http://127.0.0.1:1", "none", None, None)


def scenario(name: str, values_us: np.ndarray, duration_s: float, *, failed: int = 0, repeat_index: int = 0,
             hlog: str | None = None, kind: str = "closed-loop") -> ScenarioResult:
    """A scenario result whose figures are those of ``values_us``."""
    histogram = LatencyHistogram()
    histogram.record_many(values_us.astype(np.int64))
    ok = int(values_us.size)
    return ScenarioResult(
        name=name, kind=kind, requests=ok + failed, ok=ok, errors={"http_5xx": failed} if failed else {},
        in_flight=0, duration_s=duration_s, throughput_rps=ok / duration_s, latency_us=histogram.summary_us(),
        histogram=histogram.encode(), hlog=hlog, repeat_index=repeat_index,
    )


def write_run(directory: Path, label: str, median_us: float, *, seconds: int = 10, rate_per_s: int = 2000,
              repeats: int = 1, seed: int = 0, failed: int = 0, names: tuple[str, ...] = ("health",)) -> Path:
    """One run: each scenario ``seconds`` one-second intervals of lognormal latencies (10% spread)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    results = []
    for repeat_index in range(repeats):
        for name in names:
            hlog = f"{name}.hlog" if repeats == 1 else f"{name}.r{repeat_index + 1}.hlog"
            all_values = []
            with HlogWriter(directory / hlog, 1_700_000_000.0) as writer:
                for second in range(seconds):
                    values = rng.lognormal(np.log(median_us), 0.1, rate_per_s)
                    window = LatencyHistogram()
                    window.record_many(values.astype(np.int64))
                    writer.write_interval(float(second), 1.0, window)
                    all_values.append(values)
            results.append(scenario(name, np.concatenate(all_values), float(seconds), failed=failed,
                                    repeat_index=repeat_index, hlog=hlog))
    run = build_run_result(label, ENVIRONMENT, results, "2026-11-24T00:00:00Z",
                           "2026-11-24T00:00:10Z")
    save_result(run, directory)
    return directory
