"""The order-flow keys every order scenario shares: symbols, prices, quantities, the mix, the API profile.

The flow itself is :mod:`hftperf.targets.order_flow`, driven by the API profile named by ``api``
(``"reference"``, the bundled stack's built-in profile, by default; or a profile TOML file):
limits around the mid, market orders, cancels and amends of this run's resting orders learnt
from the answers. Same seed, same requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hftperf.config import param

__all__ = ["OrderFlowParams", "OrderMix", "OrderMixParams"]


def _check_symbols(symbols: tuple[str, ...]) -> None:
    if not symbols:
        raise ValueError("expected at least one symbol")


@dataclass(frozen=True)
class OrderMix:
    """``[scenario.mix]``: shares of each order type (normalised to sum 1)."""

    limit: float = param(default=0.7, min=0.0)
    cancel: float = param(default=0.2, min=0.0)
    market: float = param(default=0.1, min=0.0)
    amend: float = param(default=0.0, min=0.0)  # used when the profile has [api.amend]

    def __post_init__(self) -> None:
        if self.limit + self.cancel + self.market + self.amend <= 0:
            raise ValueError("expected at least one positive share in the order mix")


@dataclass(frozen=True)
class OrderFlowParams:
    """The generator's keys: what is traded, at which prices and sizes, in which mix."""

    symbols: tuple[str, ...] = param(default=("BTC-USD", "ETH-USD", "SOL-USD"), check=_check_symbols)
    mid_price: int = param(default=10_000, min=1)  # ticks
    price_band: int = param(default=50, min=0)  # ticks either side of the mid
    max_quantity: int = param(default=10, min=1)
    mix: OrderMix = field(default_factory=OrderMix)


@dataclass(frozen=True)
class OrderMixParams(OrderFlowParams):
    """The order scenarios' keys: the generator's, and the API profile that spells its requests."""

    # The API profile: a built-in name, a profile TOML file, or an [api] table (the suite's [api] or
    # api = ... applies to every order scenario that does not set its own).
    api: Any = "reference"

    def __post_init__(self) -> None:
        from hftperf.targets import compile_profile, load_profile

        if not isinstance(self.api, str | Mapping):
            raise ValueError(f"api: expected a profile name, a TOML file or an [api] table, got {self.api!r}")
        compile_profile(load_profile(self.api, "api"), "api")  # checked when the config is read
