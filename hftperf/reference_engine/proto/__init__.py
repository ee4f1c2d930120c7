"""Generated protobuf/gRPC code for the matching engine.

Regenerate with ``python -m hftperf.reference_engine.proto.generate`` (needs grpcio-tools).
"""
