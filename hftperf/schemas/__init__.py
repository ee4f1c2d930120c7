"""JSON Schemas of hftperf's files, shipped as package data (``result-1.schema.json``, ...)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["RESULT_SCHEMA_FILE", "load_schema"]

RESULT_SCHEMA_FILE = "result-3.schema.json"  # the schema of result.json, "hftperf.result/3" (1 and 2: still read)


def load_schema(file_name: str) -> dict[str, Any]:
    """The parsed JSON Schema shipped in this package under ``file_name``."""
    text = resources.files(__name__).joinpath(file_name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
