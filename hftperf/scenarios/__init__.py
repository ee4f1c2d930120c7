"""The scenario registry: kind → scenario. A new scenario is one module plus one line here.

Scenarios from other installed packages join through the entry-point group ``hftperf.scenarios``
(as pytest finds plug-ins through ``pytest11``): ``my-kind = "my_package.module:MyScenario"``, a
class or an instance satisfying :class:`Scenario`. They are loaded on first use of the registry,
not at import, and a plug-in that fails to load or reuses a built-in kind is a ConfigError naming it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from hftperf.errors import ConfigError
from hftperf.scenarios.base import RunContext, Scenario, ScenarioOutcome
from hftperf.scenarios.book_scaling import BookScaling
from hftperf.scenarios.capacity import OrderThroughput
from hftperf.scenarios.grpc_call import GrpcCall
from hftperf.scenarios.grpc_orders import GrpcOrderLatency
from hftperf.scenarios.health import HealthConcurrent, HealthSequential
from hftperf.scenarios.http_flow import HttpFlow
from hftperf.scenarios.orders import OrderLatency

__all__ = ["BUILTIN", "DEFAULT_AB_KIND", "ENTRY_POINT_GROUP", "REGISTRY", "RunContext", "Scenario", "ScenarioOutcome"]

ENTRY_POINT_GROUP = "hftperf.scenarios"
DEFAULT_AB_KIND = "health-concurrent"  # what `hftperf ab` measures without --scenario

BUILTIN: dict[str, Scenario] = {
    "health-sequential": HealthSequential(),
    "health-concurrent": HealthConcurrent(),
    "order-latency": OrderLatency(),
    "order-throughput": OrderThroughput(),
    "grpc-order-latency": GrpcOrderLatency(),
    "book-scaling": BookScaling(),
    "http": HttpFlow(),
    "grpc": GrpcCall(),
}


def _plugins() -> dict[str, Scenario]:
    """Scenarios of installed packages, by entry-point name."""
    from importlib.metadata import entry_points

    found: dict[str, Scenario] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in BUILTIN:
            raise ConfigError(f"scenario plug-in {point.name!r} ({point.value}): the kind is built in; rename it")
        try:
            loaded = point.load()
            scenario = loaded() if isinstance(loaded, type) else loaded
        except Exception as exc:  # a broken third-party package: one line, not a traceback
            raise ConfigError(f"scenario plug-in {point.name!r} ({point.value}) failed to load: "
                              f"{type(exc).__name__}: {exc}") from None
        for attribute in ("params_type", "run", "summary"):
            if not hasattr(scenario, attribute):
                raise ConfigError(f"scenario plug-in {point.name!r} ({point.value}): has no {attribute!r}; "
                                  "see docs/plugins.md")
        found[point.name] = scenario
    return found


class _Registry(Mapping[str, Scenario]):
    """The built-in scenarios, then the plug-ins (loaded on first use)."""

    def __init__(self) -> None:
        self._all: dict[str, Scenario] | None = None

    def _loaded(self) -> dict[str, Scenario]:
        if self._all is None:
            self._all = {**BUILTIN, **_plugins()}
        return self._all

    def __getitem__(self, kind: str) -> Scenario:
        return self._loaded()[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


REGISTRY: Mapping[str, Scenario] = _Registry()
