"""Defaults more than one layer needs, each in this one place."""

from __future__ import annotations

__all__ = ["DEFAULT_BASE_IMAGE", "OFFLINE_BASE_IMAGE"]

DEFAULT_BASE_IMAGE = "python:3.11-slim"  # the Docker image the bundled stack's image is built on
OFFLINE_BASE_IMAGE = "hftperf-base:bookworm"  # the tag scripts/docker-offline-base.sh gives its image
