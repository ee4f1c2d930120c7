"""hftperf.reports (see DESIGN)."""
