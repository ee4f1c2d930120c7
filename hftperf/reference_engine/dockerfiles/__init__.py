"""Dockerfile of the reference stack image (package data read by the Docker backend)."""
