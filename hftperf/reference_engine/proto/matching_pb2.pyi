from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Side(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIDE_UNSPECIFIED: _ClassVar[Side]
    BUY: _ClassVar[Side]
    SELL: _ClassVar[Side]

class OrderType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_TYPE_UNSPECIFIED: _ClassVar[OrderType]
    LIMIT: _ClassVar[OrderType]
    MARKET: _ClassVar[OrderType]

class TimeInForce(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIME_IN_FORCE_UNSPECIFIED: _ClassVar[TimeInForce]
    GTC: _ClassVar[TimeInForce]
    IOC: _ClassVar[TimeInForce]

class OrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATUS_UNSPECIFIED: _ClassVar[OrderStatus]
    NEW: _ClassVar[OrderStatus]
    PARTIALLY_FILLED: _ClassVar[OrderStatus]
    FILLED: _ClassVar[OrderStatus]
    CANCELLED: _ClassVar[OrderStatus]
    REJECTED: _ClassVar[OrderStatus]
SIDE_UNSPECIFIED: Side
BUY: Side
SELL: Side
ORDER_TYPE_UNSPECIFIED: OrderType
LIMIT: OrderType
MARKET: OrderType
TIME_IN_FORCE_UNSPECIFIED: TimeInForce
GTC: TimeInForce
IOC: TimeInForce
ORDER_STATUS_UNSPECIFIED: OrderStatus
NEW: OrderStatus
PARTIALLY_FILLED: OrderStatus
FILLED: OrderStatus
CANCELLED: OrderStatus
REJECTED: OrderStatus

class OrderRequest(_message.Message):
    __slots__ = ("symbol", "side", "type", "price_ticks", "quantity", "time_in_force", "client_order_id")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PRICE_TICKS_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    side: Side
    type: OrderType
    price_ticks: int
    quantity: int
    time_in_force: TimeInForce
    client_order_id: str
    def __init__(self, symbol: _Optional[str] = ..., side: _Optional[_Union[Side, str]] = ..., type: _Optional[_Union[OrderType, str]] = ..., price_ticks: _Optional[int] = ..., quantity: _Optional[int] = ..., time_in_force: _Optional[_Union[TimeInForce, str]] = ..., client_order_id: _Optional[str] = ...) -> None: ...

class Fill(_message.Message):
    __slots__ = ("fill_id", "maker_order_id", "taker_order_id", "price_ticks", "quantity")
    FILL_ID_FIELD_NUMBER: _ClassVar[int]
    MAKER_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    TAKER_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_TICKS_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    fill_id: int
    maker_order_id: int
    taker_order_id: int
    price_ticks: int
    quantity: int
    def __init__(self, fill_id: _Optional[int] = ..., maker_order_id: _Optional[int] = ..., taker_order_id: _Optional[int] = ..., price_ticks: _Optional[int] = ..., quantity: _Optional[int] = ...) -> None: ...

class EngineTiming(_message.Message):
    __slots__ = ("engine_us", "store_us")
    ENGINE_US_FIELD_NUMBER: _ClassVar[int]
    STORE_US_FIELD_NUMBER: _ClassVar[int]
    engine_us: int
    store_us: int
    def __init__(self, engine_us: _Optional[int] = ..., store_us: _Optional[int] = ...) -> None: ...

class OrderReport(_message.Message):
    __slots__ = ("order_id", "client_order_id", "symbol", "side", "type", "time_in_force", "price_ticks", "quantity", "filled_quantity", "remaining_quantity", "status", "reject_reason")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    PRICE_TICKS_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    FILLED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    REMAINING_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REJECT_REASON_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    price_ticks: int
    quantity: int
    filled_quantity: int
    remaining_quantity: int
    status: OrderStatus
    reject_reason: str
    def __init__(self, order_id: _Optional[int] = ..., client_order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., side: _Optional[_Union[Side, str]] = ..., type: _Optional[_Union[OrderType, str]] = ..., time_in_force: _Optional[_Union[TimeInForce, str]] = ..., price_ticks: _Optional[int] = ..., quantity: _Optional[int] = ..., filled_quantity: _Optional[int] = ..., remaining_quantity: _Optional[int] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., reject_reason: _Optional[str] = ...) -> None: ...

class SubmitOrderResponse(_message.Message):
    __slots__ = ("order", "fills", "timing")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    FILLS_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    order: OrderReport
    fills: _containers.RepeatedCompositeFieldContainer[Fill]
    timing: EngineTiming
    def __init__(self, order: _Optional[_Union[OrderReport, _Mapping]] = ..., fills: _Optional[_Iterable[_Union[Fill, _Mapping]]] = ..., timing: _Optional[_Union[EngineTiming, _Mapping]] = ...) -> None: ...

class CancelOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    def __init__(self, order_id: _Optional[int] = ...) -> None: ...

class CancelOrderResponse(_message.Message):
    __slots__ = ("order", "cancelled", "timing")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    order: OrderReport
    cancelled: bool
    timing: EngineTiming
    def __init__(self, order: _Optional[_Union[OrderReport, _Mapping]] = ..., cancelled: _Optional[bool] = ..., timing: _Optional[_Union[EngineTiming, _Mapping]] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    def __init__(self, order_id: _Optional[int] = ...) -> None: ...

class GetOrderResponse(_message.Message):
    __slots__ = ("order", "fills")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    FILLS_FIELD_NUMBER: _ClassVar[int]
    order: OrderReport
    fills: _containers.RepeatedCompositeFieldContainer[Fill]
    def __init__(self, order: _Optional[_Union[OrderReport, _Mapping]] = ..., fills: _Optional[_Iterable[_Union[Fill, _Mapping]]] = ...) -> None: ...

class GetBookRequest(_message.Message):
    __slots__ = ("symbol", "depth")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    depth: int
    def __init__(self, symbol: _Optional[str] = ..., depth: _Optional[int] = ...) -> None: ...

class PriceLevel(_message.Message):
    __slots__ = ("price_ticks", "quantity", "order_count")
    PRICE_TICKS_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ORDER_COUNT_FIELD_NUMBER: _ClassVar[int]
    price_ticks: int
    quantity: int
    order_count: int
    def __init__(self, price_ticks: _Optional[int] = ..., quantity: _Optional[int] = ..., order_count: _Optional[int] = ...) -> None: ...

class BookSnapshot(_message.Message):
    __slots__ = ("symbol", "bids", "asks", "sequence")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    BIDS_FIELD_NUMBER: _ClassVar[int]
    ASKS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    bids: _containers.RepeatedCompositeFieldContainer[PriceLevel]
    asks: _containers.RepeatedCompositeFieldContainer[PriceLevel]
    sequence: int
    def __init__(self, symbol: _Optional[str] = ..., bids: _Optional[_Iterable[_Union[PriceLevel, _Mapping]]] = ..., asks: _Optional[_Iterable[_Union[PriceLevel, _Mapping]]] = ..., sequence: _Optional[int] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("ok", "version", "orders_total", "symbols")
    OK_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ORDERS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    version: str
    orders_total: int
    symbols: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ok: _Optional[bool] = ..., version: _Optional[str] = ..., orders_total: _Optional[int] = ..., symbols: _Optional[_Iterable[str]] = ...) -> None: ...

class OrderBatch(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[OrderRequest]
    def __init__(self, orders: _Optional[_Iterable[_Union[OrderRequest, _Mapping]]] = ...) -> None: ...

class OrderBatchResponse(_message.Message):
    __slots__ = ("results", "codes", "timing")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SubmitOrderResponse]
    codes: _containers.RepeatedScalarFieldContainer[int]
    timing: EngineTiming
    def __init__(self, results: _Optional[_Iterable[_Union[SubmitOrderResponse, _Mapping]]] = ..., codes: _Optional[_Iterable[int]] = ..., timing: _Optional[_Union[EngineTiming, _Mapping]] = ...) -> None: ...
