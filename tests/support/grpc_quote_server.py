"""A gRPC service of its own proto (tests/support/grpc_quotes/), compiled at start, for the gRPC tests.

Usage: python grpc_quote_server.py [--no-reflection] [--delay-ms N] [--port P] [--require-caller X]
[--stall-at N --stall-ms M] [--tls-cert PEM --tls-key PEM [--client-ca PEM]]; prints "PORT <n>".
GetQuote answers after the delay (so a short deadline is exceeded), echoes request_id and the
``x-caller`` metadata; StreamQuotes sends ``lots`` quotes (default 3); SendOrders counts; Trade
acks orders with their client_order_id out of order (each pair second first, so only a correlation
matches them), never acks an order of quantity 0 (an answer that never comes), and with
``--stall-at N --stall-ms M`` pauses M ms once at the Nth order.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent import futures
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from hftperf.targets.grpc_schema import from_proto_files, message_classes

PROTOS = Path(__file__).with_name("grpc_quotes")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-reflection", action="store_true")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--require-caller", default=None, help="refuse calls without this x-caller metadata")
    parser.add_argument("--stall-at", type=int, default=0, help="Trade: pause once when the Nth order arrives")
    parser.add_argument("--stall-ms", type=float, default=0.0)
    parser.add_argument("--tls-cert", default=None)
    parser.add_argument("--tls-key", default=None)
    parser.add_argument("--client-ca", default=None, help="require client certificates signed by this CA")
    args = parser.parse_args()
    schemas = {name: from_proto_files([PROTOS / "acme_quotes.proto"], [PROTOS], f"acme.quotes.v2.QuoteService/{name}")
               for name in ("GetQuote", "StreamQuotes", "SendOrders", "Trade")}
    classes = {name: message_classes(schema) for name, schema in schemas.items()}
    QuoteRequest, Quote = classes["GetQuote"]
    OrderMsg, Summary = classes["SendOrders"]
    _, Ack = classes["Trade"]
    delay_s = args.delay_ms / 1000

    def quote(request, context):  # type: ignore[no-untyped-def]
        caller = dict(context.invocation_metadata()).get("x-caller", "")
        return Quote(instrument=request.instrument, request_id=request.request_id, caller=caller,
                     bid={"units": 100, "nanos": 0}, ask={"units": 101, "nanos": 0})

    def get_quote(request, context):  # type: ignore[no-untyped-def]
        if args.require_caller and dict(context.invocation_metadata()).get("x-caller") != args.require_caller:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "x-caller metadata missing or wrong")
        if not request.instrument or not request.request_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "instrument and request_id are required")
        if delay_s:
            time.sleep(delay_s)
        return quote(request, context)

    def stream_quotes(request, context):  # type: ignore[no-untyped-def]
        for _ in range(request.lots or 3):
            yield quote(request, context)

    def send_orders(requests, context):  # type: ignore[no-untyped-def]
        return Summary(orders=sum(1 for _ in requests))

    seen = [0]

    def trade(requests, context):  # type: ignore[no-untyped-def]
        held = None
        for order in requests:
            seen[0] += 1
            if seen[0] == args.stall_at:
                time.sleep(args.stall_ms / 1000)  # the stream stalls: answers (and reads) wait
            if order.quantity == 0:
                continue  # never answered
            ack = Ack(client_order_id=order.client_order_id, accepted=True)
            if held is None:
                held = ack
                continue
            yield ack
            yield held
            held = None
        if held is not None:
            yield held

    handlers = {
        "GetQuote": grpc.unary_unary_rpc_method_handler(get_quote, QuoteRequest.FromString, Quote.SerializeToString),
        "StreamQuotes": grpc.unary_stream_rpc_method_handler(stream_quotes, QuoteRequest.FromString,
                                                             Quote.SerializeToString),
        "SendOrders": grpc.stream_unary_rpc_method_handler(send_orders, OrderMsg.FromString,
                                                           Summary.SerializeToString),
        "Trade": grpc.stream_stream_rpc_method_handler(trade, OrderMsg.FromString, Ack.SerializeToString),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("acme.quotes.v2.QuoteService", handlers),))
    if not args.no_reflection:
        from google.protobuf import descriptor_pool
        from grpc_reflection.v1alpha import reflection

        pool = descriptor_pool.DescriptorPool()
        from google.protobuf import descriptor_pb2

        files = descriptor_pb2.FileDescriptorSet.FromString(schemas["GetQuote"].descriptor_set)
        for file in files.file:
            pool.Add(file)
        reflection.enable_server_reflection(("acme.quotes.v2.QuoteService", reflection.SERVICE_NAME), server,
                                            pool=pool)
    if args.tls_cert:
        client_ca = Path(args.client_ca).read_bytes() if args.client_ca else None
        pair = (Path(args.tls_key).read_bytes(), Path(args.tls_cert).read_bytes())
        credentials = grpc.ssl_server_credentials([pair], root_certificates=client_ca,
                                                  require_client_auth=client_ca is not None)
        port = server.add_secure_port(f"127.0.0.1:{args.port}", credentials)
    else:
        port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"PORT {port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
