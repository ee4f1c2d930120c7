"""Micro-benchmark: ns per value for LatencyHistogram.record() in a loop vs record_many().

Run: ``.venv/bin/python benchmarks/histogram_record.py [--batch 4096] [--repeat 5]``.
Prints a small markdown table; the best of ``--repeat`` runs is reported (least disturbed).
"""

from __future__ import annotations

import argparse
import array
import time
from collections.abc import Callable

import numpy as np
from hdrh.histogram import HdrHistogram

from hftperf.histogram import HIGHEST_US_DEFAULT, LatencyHistogram


def best_ns_per_value(run: Callable[[], None], values: int, repeat: int) -> float:
    """Fastest of ``repeat`` timings of ``run``, divided by the number of values it records."""
    timings = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        run()
        timings.append(time.perf_counter_ns() - start)
    return min(timings) / values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096, help="values per record_many call")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per variant")
    args = parser.parse_args()

    rng = np.random.default_rng(1)
    values = np.maximum(rng.lognormal(6.0, 2.0, args.batch), 1).astype(np.int64)
    as_list, as_array = values.tolist(), array.array("q", values.tolist())
    histogram, reference = LatencyHistogram(), HdrHistogram(1, HIGHEST_US_DEFAULT, 3)

    def loop_record() -> None:
        for value in as_list:
            histogram.record(value)

    def loop_hdrh() -> None:
        for value in as_list:
            reference.record_value(value)

    rows = [
        ("hdrh HdrHistogram.record_value() loop", best_ns_per_value(loop_hdrh, args.batch, args.repeat)),
        ("LatencyHistogram.record() loop", best_ns_per_value(loop_record, args.batch, args.repeat)),
        ("LatencyHistogram.record_many(numpy int64)",
         best_ns_per_value(lambda: histogram.record_many(values), args.batch, args.repeat)),
        ("LatencyHistogram.record_many(array.array('q'))",
         best_ns_per_value(lambda: histogram.record_many(as_array), args.batch, args.repeat)),
    ]  # fmt: skip
    loop_ns = rows[1][1]
    print(f"batch of {args.batch} values, best of {args.repeat} runs\n")
    print("| variant | ns/value | speed-up vs record() loop |")
    print("|---|---:|---:|")
    for name, ns in rows:
        print(f"| {name} | {ns:.1f} | {loop_ns / ns:.1f}x |")


if __name__ == "__main__":
    main()
