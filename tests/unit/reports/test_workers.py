"""The Load workers section: present for cluster runs only, naming a lost worker."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hftperf.reports.markdown import render_markdown
from hftperf.result import load_result

SMALL = Path(__file__).resolve().parents[2] / "data" / "results-small"


def test_no_section_for_a_local_run() -> None:
    assert "## Load workers" not in render_markdown(load_result(SMALL))


def test_cluster_run_lists_each_worker_and_names_the_lost_one() -> None:
    run = load_result(SMALL)
    workers = [{"name": "tcp://10.0.0.7:40211", "host": "gen-a", "cores": 8, "requests": 9000, "ok": 8990,
                "errors": 10, "clock_offset_us": 250.0, "lost": False},
               {"name": "tcp://10.0.0.8:40211", "host": "gen-b", "cores": 8, "requests": 4000, "ok": 4000,
                "errors": 0, "clock_offset_us": -1200.0, "lost": True}]
    lost = [{"name": "tcp://10.0.0.8:40211 (load worker 1 of 2: left the cluster)", "worker_index": 1,
             "lost_after_s": 4.2, "not_sent": 5000, "in_flight": 3}]
    first = dataclasses.replace(run.scenarios[0], figures={**run.scenarios[0].figures, "load_workers": workers,
                                                           "lost_workers": lost})
    text = render_markdown(dataclasses.replace(run, scenarios=(first, *run.scenarios[1:])))
    section = text.split("## Load workers", 1)[1].split("\n## ", 1)[0]
    assert "| gen-a |" in section and "+0.250 ms" in section and "-1.200 ms" in section
    assert "LOST after 4.2 s, 5,000 not sent" in section
    assert "tcp://10.0.0.8:40211 (load worker 1 of 2: left the cluster) was lost 4.2 s" in section
    assert text.index("## Instrument quality") < text.index("## Load workers") < text.index("## Environment")
