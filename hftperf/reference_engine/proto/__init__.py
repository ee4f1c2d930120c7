"""Generated protobuf/gRPC code for the matching engine (regenerate with ``python -m hftperf.reference_engine.proto.generate``)."""
