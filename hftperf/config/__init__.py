"""The typed run configuration: TOML file, environment and CLI overrides, validated with key paths.

Precedence, written once in ``load_config``: defaults < TOML file < environment (``HFTPERF_*``)
< CLI overrides. Every message names where a value came from and what was expected, e.g.
``configs/x.toml: scenario[2].rate: expected a rate such as '1000/s' or '60000/m', got 'fast'``
(array indices count from 0, as in TOML and JSON paths).

TOML keys name the quantity, Python fields carry the unit: ``rate = "1000/s"`` fills
``rate_per_s: float = param(key="rate", unit="rate_per_s")``. ``load_params`` builds any frozen
dataclass declared this way, which is how scenarios validate their own keys.

The package: ``loading`` (the file, the precedence, ``load_config``), ``run`` (``[run]`` and
``RunConfig``), ``scenario`` (``[[scenario]]``, its stages and request), ``sections`` (``[stack]``,
``[grpc]``, ``[history]``), ``checks`` (the value checks those share). Import from here.
"""

from __future__ import annotations

from hftperf.config.loading import ENV_VARS, load_config, read_toml
from hftperf.config.run import RunConfig
from hftperf.config.scenario import RequestConfig, ScenarioConfig, StageConfig, stages_param
from hftperf.config.sections import GrpcChannelOptions, HistoryOptions, StackOptions
from hftperf.params import UNITS, load_params, param

__all__ = [
    "ENV_VARS",
    "UNITS",
    "GrpcChannelOptions",
    "HistoryOptions",
    "RequestConfig",
    "RunConfig",
    "ScenarioConfig",
    "StackOptions",
    "StageConfig",
    "load_config",
    "load_params",
    "param",
    "read_toml",
    "stages_param",
]
