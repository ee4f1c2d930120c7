"""Comparison settings: ``[compare]`` in a config file, then command-line flags.

```toml
[compare]
alpha = 0.05          # significance level (after Benjamini-Hochberg per scenario)
window = "1s"         # interval windows when a side has a single run
[compare.tolerance]   # smallest change that counts, per metric (error_rate: percentage points)
p99 = "10%"
throughput = "5%"
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hftperf.compare.metrics import Tolerances, parse_tolerances
from hftperf.compare.runs import DEFAULT_ALPHA
from hftperf.config import read_toml
from hftperf.errors import ConfigError, UsageError
from hftperf.params import load_params, param

__all__ = ["AB_TOLERANCE_SCALE", "CompareOptions", "load_compare_options"]

# ab's default tolerances are half of compare's: interleaved rounds cancel the drift between runs
# that compare's tolerances must absorb, so smaller real changes can be called.
AB_TOLERANCE_SCALE = 0.5


def _check_alpha(value: float) -> None:
    if not 0 < value < 1:
        raise ValueError(f"expected a significance level between 0 and 1 (e.g. 0.05), got {value!r}")


@dataclasses.dataclass(frozen=True)
class _CompareSection:
    alpha: float = param(default=DEFAULT_ALPHA, check=_check_alpha)
    window_s: float = param(key="window", unit="duration_s", default=1.0, min=0.05)
    tolerance: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class CompareOptions:
    """Significance level, interval window and tolerances of one comparison."""

    alpha: float = DEFAULT_ALPHA
    window_s: float = 1.0
    tolerances: Tolerances = dataclasses.field(default_factory=Tolerances)


def load_compare_options(config: Path | None, alpha: float | None = None, tolerance_flags: Sequence[str] = (),
                         *, default_scale: float = 1.0) -> CompareOptions:
    """Defaults (tolerances times ``default_scale``) < ``[compare]`` of ``config`` < flags.

    ConfigError names the file and key; UsageError names the flag.
    """
    section = _CompareSection()
    where = "defaults"
    if config is not None:
        document, _ = read_toml(config)
        where = f"{config}: compare"
        section = load_params(_CompareSection, document.get("compare", {}), where)
    tolerances = Tolerances().scaled(default_scale)
    tolerances = tolerances.with_overrides(parse_tolerances(section.tolerance, f"{where}.tolerance"))
    try:
        tolerances = tolerances.with_overrides(parse_tolerances(list(tolerance_flags), "--tolerance"))
    except ConfigError as exc:  # a bad flag is a usage error
        raise UsageError(str(exc)) from None
    chosen_alpha = section.alpha
    if alpha is not None:
        try:
            _check_alpha(alpha)
        except ValueError as exc:
            raise UsageError(f"--alpha: {exc}") from None
        chosen_alpha = alpha
    return CompareOptions(alpha=chosen_alpha, window_s=section.window_s, tolerances=tolerances)
