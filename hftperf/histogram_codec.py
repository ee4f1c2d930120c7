"""The HDR histogram's encodings: base64 compressed V2 ('HISTFAAA…') out, V2 or V1 ('HISTggAA…') in.

Encoding is hdrh's own. Decoding checks the frame (base64, length field, cookie) and the payload
header before hdrh sees anything, so a damaged or foreign encoding is a ``DataError`` that says
what is wrong, never an exception from inside hdrh or a huge allocation; V2 counts are then read
by hdrh's C decoder, V1 counts (which hdrh cannot read) here with numpy. Both directions work
on a bare ``HdrHistogram``: :class:`hftperf.histogram.LatencyHistogram` wraps the result.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from typing import Any

import numpy as np
from hdrh.codec import (
    HdrCookieException,
    HdrHistogramSettingsException,
    HdrLengthException,
)
from hdrh.histogram import HdrHistogram

from hftperf.errors import DataError

__all__ = ["decode_hdr", "encode_hdr"]

# Encoding cookies (HdrHistogram Java AbstractHistogram); bits 4..7 carry the word size.
_V1_ENCODING_COOKIE_BASE = 0x1C849301
_V1_COMPRESSED_COOKIE_BASE = 0x1C849302
_V2_ENCODING_COOKIE_BASE = 0x1C849303
_V2_COMPRESSED_COOKIE_BASE = 0x1C849304
_V0_COOKIE_BASES = (0x1C849308, 0x1C849309)
_HEADER = struct.Struct(">iiiiqqd")  # cookie, payload length, normalizing offset, digits, lo, hi, ratio

_HDRH_ERRORS = (HdrCookieException, HdrLengthException, HdrHistogramSettingsException)


def _cookie_base(cookie: int) -> int:
    return cookie & ~0xF0


def encode_hdr(hdr: HdrHistogram) -> str:
    """Base64 compressed V2 encoding ('HISTFAAA…'), as ``HdrHistogram.encode()`` gives."""
    encoded: Any = hdr.encode()
    return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)


def decode_hdr(text: str) -> HdrHistogram:
    """Decode a base64 compressed V2 or V1 histogram; anything else is a ``DataError``."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DataError(f"histogram is not valid base64: {exc}") from None
    if len(raw) < 8:
        raise DataError(f"histogram encoding too short ({len(raw)} bytes)")
    cookie, length = struct.unpack_from(">ii", raw)
    if length != len(raw) - 8:
        raise DataError(f"histogram length field says {length} bytes, found {len(raw) - 8}")
    base = _cookie_base(cookie)
    if base == _V2_COMPRESSED_COOKIE_BASE:
        return _decode_v2(raw[8:])
    if base == _V1_COMPRESSED_COOKIE_BASE:
        return _decode_v1(raw[8:], (cookie & 0xF0) >> 4)
    if base in _V0_COOKIE_BASES:
        raise DataError("histogram uses the V0 encoding, which is not supported")
    raise DataError(f"not a compressed HdrHistogram encoding (cookie 0x{cookie & 0xFFFFFFFF:08x})")


def _inflate_header(compressed: bytes) -> tuple[Any, tuple[int, ...]]:
    """Start inflating; return the decompressor and the 40-byte payload header fields."""
    inflater = zlib.decompressobj()
    try:
        head = inflater.decompress(compressed, _HEADER.size)
    except zlib.error as exc:
        raise DataError(f"histogram payload is not zlib data: {exc}") from None
    if len(head) < _HEADER.size:
        raise DataError(f"histogram payload header truncated ({len(head)} of {_HEADER.size} bytes)")
    return inflater, _HEADER.unpack(head)


def _checked_layout(digits: int, lowest: int, highest: int) -> None:
    """Refuse header values hdrh would choke on (or allocate gigabytes for)."""
    if not 1 <= digits <= 5 or lowest < 1 or highest < 2 * lowest:
        raise DataError(
            f"histogram header is invalid (significant digits {digits}, lowest {lowest}, highest {highest})"
        )


def _decode_v2(compressed: bytes) -> HdrHistogram:
    """V2 (ZigZag LEB128 counts): validate the header, then let hdrh's C decoder do the work."""
    _inflater, (cookie, _length, _offset, digits, lowest, highest, _ratio) = _inflate_header(compressed)
    if _cookie_base(cookie) != _V2_ENCODING_COOKIE_BASE:
        raise DataError(f"histogram payload cookie 0x{cookie & 0xFFFFFFFF:08x} is not a V2 payload")
    _checked_layout(digits, lowest, highest)
    try:
        return HdrHistogram.decode(compressed, b64_wrap=False)
    except (ValueError, TypeError, LookupError, ArithmeticError, RuntimeError, zlib.error, *_HDRH_ERRORS) as exc:
        raise DataError(f"cannot decode V2 histogram: {exc!r}") from None


def _decode_v1(compressed: bytes, word_size: int) -> HdrHistogram:
    """V1: the same 40-byte header, then counts as big-endian words of ``word_size`` bytes."""
    inflater, (cookie, length, offset, digits, lowest, highest, ratio) = _inflate_header(compressed)
    if _cookie_base(cookie) != _V1_ENCODING_COOKIE_BASE or (cookie & 0xF0) >> 4 != word_size:
        raise DataError(f"histogram payload cookie 0x{cookie & 0xFFFFFFFF:08x} is not a V1 payload")
    if word_size not in (2, 4, 8):
        raise DataError(f"V1 histogram word size {word_size} is not 2, 4 or 8")
    if offset != 0:
        raise DataError(f"V1 histogram with normalizing index offset {offset} is not supported")
    _checked_layout(digits, lowest, highest)
    hdr = HdrHistogram(lowest, highest, digits)
    hdr.int_to_double_conversion_ratio = ratio
    if length < 0:
        raise DataError(f"V1 histogram header is implausible (payload {length} bytes)")
    wanted = min(length, hdr.counts_len * word_size) // word_size * word_size
    try:
        body = inflater.decompress(inflater.unconsumed_tail, wanted)
    except zlib.error as exc:
        raise DataError(f"V1 histogram payload is corrupt: {exc}") from None
    if len(body) < wanted:
        raise DataError(f"V1 histogram payload truncated ({len(body)} of {wanted} bytes)")
    words = np.frombuffer(body, dtype=f">i{word_size}").astype(np.int64)
    if words.size and int(words.min()) < 0:
        raise DataError("V1 histogram holds negative counts")
    np.ctypeslib.as_array(hdr.counts)[: words.size] = words
    nonzero = np.flatnonzero(words)
    if nonzero.size:
        hdr.set_internal_tacking_values(int(nonzero[0]), int(nonzero[-1]), int(words.sum()))
    return hdr
