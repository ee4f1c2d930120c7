"""hftperf.scenarios (see DESIGN)."""
