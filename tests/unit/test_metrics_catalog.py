"""One metric catalog: every spelling means the same metric to thresholds, compare and reports."""

from __future__ import annotations

import pytest

from hftperf.compare.metrics import METRICS as COMPARED
from hftperf.compare.metrics import Tolerances, canonical_metric, parse_tolerances
from hftperf.metrics_catalog import ALIASES, CATALOG, COMPARABLE, canonical_name, display_name
from hftperf.thresholds import METRICS as THRESHOLD_KINDS
from hftperf.thresholds import parse_threshold


@pytest.mark.parametrize(("spelling", "key"), sorted(ALIASES.items()))
def test_every_alias_is_one_metric_everywhere(spelling: str, key: str) -> None:
    assert canonical_name(spelling) == canonical_name(spelling.upper()) == key
    assert canonical_metric(spelling) == key  # compare, history, bisect
    limit = {"duration": "50ms", "rate": "100/s", "fraction": "1%"}[CATALOG[key].value_kind]
    assert parse_threshold(f"{spelling} < {limit}").metric == key  # thresholds


def test_thresholds_and_compare_read_the_same_catalog() -> None:
    assert set(COMPARED) == set(COMPARABLE) and set(COMPARED) <= set(THRESHOLD_KINDS) == set(CATALOG)
    assert Tolerances().of("p99") == 10.0 and Tolerances().of("error_rate") == 0.1
    assert parse_tolerances(["p99.9=30%", "throughput=2%"], "--tolerance") == {"p99_9": 30.0, "throughput_rps": 2.0}
    assert canonical_name("cancel.p99.9") == "cancel.p99_9"
    assert display_name("p99_9") == "p99.9" and display_name("stale_share") == "stale_share"
    with pytest.raises(ValueError, match="unknown metric 'complexity'"):
        canonical_metric("complexity")  # a threshold metric, not a compared one
