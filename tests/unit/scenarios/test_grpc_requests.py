"""The grpc scenario's request bytes without a server: the correlation field appended to precompiled bytes,
read back from an answer (top level or nested), and the correlate checks that name the field."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from hftperf.errors import ConfigError
from hftperf.scenarios.grpc_requests import CorrelatedRequests, correlation
from hftperf.targets.grpc_schema import from_proto_files, message_classes

PROTOS = Path(__file__).resolve().parents[2] / "support" / "grpc_quotes"
ENGINE_PROTO = Path(__file__).resolve().parents[3] / "hftperf" / "reference_engine" / "proto"


def quotes(method: str) -> object:
    return from_proto_files([PROTOS / "acme_quotes.proto"], [PROTOS], f"acme.quotes.v2.QuoteService/{method}")


def test_the_key_is_appended_to_precompiled_bytes_and_read_back() -> None:
    schema = quotes("Trade")
    order_cls, ack_cls = message_classes(schema)  # type: ignore[arg-type]
    base = order_cls(client_order_id="from-template", instrument="AAPL", quantity=3).SerializeToString()
    number, delimited, key = correlation(schema, "client_order_id", None, "s")  # type: ignore[arg-type]
    assert (number, delimited, key.path) == (1, True, ("client_order_id",))
    requests = CorrelatedRequests(base, number, delimited)
    for sequence in (0, 7, 300, 2**40):
        message = order_cls.FromString(requests(sequence))
        assert (message.client_order_id, message.instrument, message.quantity) == (str(sequence), "AAPL", 3)
        assert key(ack_cls(client_order_id=str(sequence)).SerializeToString()) == str(sequence)
    integer = CorrelatedRequests(base, 3, False)  # an integer field: the sequence as a varint
    assert order_cls.FromString(integer(1234)).quantity == 1234
    again = pickle.loads(pickle.dumps(key))  # to worker processes, rebuilt there
    assert again(ack_cls(client_order_id="9").SerializeToString()) == "9"


def test_a_nested_answer_field_is_found_by_name() -> None:
    schema = from_proto_files([ENGINE_PROTO / "matching.proto"], [ENGINE_PROTO],
                              "hftperf.matching.v1.MatchingEngine/SubmitOrders")
    _, _, key = correlation(schema, "client_order_id", None, "s")
    assert key.path == ("order", "client_order_id")
    _, response_cls = message_classes(schema)
    answer = response_cls(order={"client_order_id": "42"}).SerializeToString()  # type: ignore[call-arg]
    assert key(answer) == "42"


@pytest.mark.parametrize(("field", "response", "needle"), [
    ("order_ref", None, "correlate: acme.quotes.v2.OrderMsg has no field 'order_ref'"),
    ("instrument", None, "correlate: acme.quotes.v2.Ack has no field 'instrument'"),
    ("client_order_id", "accepted.x", "correlate_response"),
])
def test_correlate_errors_name_the_field(field: str, response: str | None, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        correlation(quotes("Trade"), field, response, "s")  # type: ignore[arg-type]
