"""Regenerate matching_pb2*.py from matching.proto (needs grpcio-tools; the output is committed)."""

from __future__ import annotations

import pathlib
import re
import sys


def main() -> int:
    """Run protoc from grpcio-tools and make the generated import package-relative."""
    from grpc_tools import protoc  # dev-time only dependency

    here = pathlib.Path(__file__).resolve().parent
    status = protoc.main(
        ["protoc", f"-I{here}", f"--python_out={here}", f"--pyi_out={here}",
         f"--grpc_python_out={here}", str(here / "matching.proto")]
    )
    if status != 0:
        return status
    grpc_file = here / "matching_pb2_grpc.py"
    text = re.sub(r"^import matching_pb2 as", "from hftperf.reference_engine.proto import matching_pb2 as",
                  grpc_file.read_text(), flags=re.M)
    grpc_file.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
