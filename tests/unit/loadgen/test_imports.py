"""The instrument stays a library: importing it pulls in no CLI, report or container packages."""

from __future__ import annotations

import json
import subprocess
import sys


def test_loadgen_imports_no_heavy_or_cli_packages() -> None:
    code = ("import json, sys; import hftperf.loadgen; "
            "print(json.dumps(sorted(m for m in ('typer', 'rich', 'docker', 'pandas', 'matplotlib', "
            "'grpc', 'hftperf.cli', 'hftperf.reference_engine') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_a_local_run_never_imports_distributed() -> None:
    """Without --cluster nothing imports distributed (or prometheus_client): the executor is local."""
    code = ("import json, sys; import hftperf.loadgen as lg; import hftperf.cli.load, hftperf.cli.run, "
            "hftperf.cli.ab, hftperf.suite; "
            "lg.open_executor(None).__enter__(); "
            "print(json.dumps(sorted(m for m in ('distributed', 'dask', 'prometheus_client') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []
