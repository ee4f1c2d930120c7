"""hftperf: benchmarking and performance-regression toolkit for trading-platform services."""

__version__ = "0.1.0"

__all__ = ["__version__"]
