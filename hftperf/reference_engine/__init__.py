"""hftperf.reference_engine (see DESIGN)."""
