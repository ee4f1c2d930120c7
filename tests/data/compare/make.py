"""Regenerate the committed compare fixtures: real runs against behaviour servers with set delays.

Run from the repository root: ``python tests/data/compare/make.py``. Each directory is one
``hftperf run --target`` of ``suite.toml`` against ``behaviour_server.py delay MS``:
base and same at 2 ms (two runs of one build), slow at 3 ms, fast at 1 ms; ``other`` runs only
health-sequential (no scenario in common with ``solo``, which has only health-concurrent).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support.servers import behaviour_server  # noqa: E402

RUNS = {"base": ("2", None), "same": ("2", None), "slow": ("3", None), "fast": ("1", None),
        "solo": ("2", "health-concurrent"), "other": ("2", "health-sequential")}


def main() -> None:
    for name, (delay_ms, only) in RUNS.items():
        out = HERE / name
        shutil.rmtree(out, ignore_errors=True)
        with behaviour_server("delay", delay_ms) as url:
            args = [sys.executable, "-m", "hftperf", "run", "--config", str(HERE / "suite.toml"), "--target", url,
                    "--out", str(out), "--label", name, "--quiet"]
            if only:
                args += ["--scenario", only]
            subprocess.run(args, check=False, cwd=ROOT)
        shutil.rmtree(out / "plots", ignore_errors=True)
        (out / "summary.md").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
