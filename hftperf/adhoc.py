"""An ad-hoc load run (``hftperf load``) as a results directory, so report, compare and history read it.

The directory holds what ``hftperf run`` writes for one scenario: ``result.json`` with a single
scenario named ``load`` (its kind ``open-loop`` or ``closed-loop``) and its interval log
``load.hlog``. The request is described with credentials redacted.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hftperf.environment import collect_environment
from hftperf.loadgen import LoadResult, RequestSpec
from hftperf.redact import redact_url
from hftperf.result import RunResult, build_run_result, save_result
from hftperf.scenario_results import ADHOC_KIND, load_outcome, scenario_result

__all__ = ["ADHOC_HLOG", "ADHOC_SCENARIO", "LOAD_JSON_SCHEMA", "save_load_result"]

ADHOC_SCENARIO = ADHOC_KIND  # its name and its kind
ADHOC_HLOG = "load.hlog"
# hftperf.load/1 - the JSON object of `hftperf load --json` (keys listed in the README).
LOAD_JSON_SCHEMA = "hftperf.load/1"


def save_load_result(result: LoadResult, out_dir: Path, started_at: str, ended_at: str,
                     redact: Iterable[str] = ()) -> RunResult:
    """Write ``result`` (one ad-hoc run) as ``out_dir/result.json``; the interval log is already there."""
    spec = result.plan.request
    assert isinstance(spec, RequestSpec), "ad-hoc runs send HTTP"
    extra = tuple(redact)
    hlog = ADHOC_HLOG if (out_dir / ADHOC_HLOG).is_file() else None
    scenario = scenario_result(ADHOC_SCENARIO, load_outcome(result), hlog, scenario_kind=ADHOC_KIND,
                               redact_headers=extra)
    environment = collect_environment(redact_url(spec.url, extra), "none", None, None,
                                      extra={"duration_scale": 1.0, "repeat": 1})
    run = build_run_result(ADHOC_SCENARIO, environment, [scenario], started_at, ended_at, result.interrupted)
    save_result(run, out_dir)
    return run
