"""Target API profiles: how a service spells its order operations, compiled for the hot path."""

from __future__ import annotations

from hftperf.targets.profile import ApiProfile, CompiledProfile, compile_profile, load_profile

__all__ = ["ApiProfile", "CompiledProfile", "compile_profile", "load_profile"]
