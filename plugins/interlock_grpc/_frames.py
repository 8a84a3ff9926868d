"""HTTP/2 wire constants and the few frames and header blocks the server writes (RFC 9113, 7541).

Frames are built by hand: a 9-byte header (24-bit length, type, flags, 31-bit stream id) and
a payload. The server's response header blocks use HPACK representations that need no
compression state: indexed fields of the static table and literals "without indexing"
(RFC 7541 section 6.2.2), so the peer's decoder table is never touched and no encoder has to be
kept per connection.
"""

from __future__ import annotations

import struct

__all__ = [
    "CLIENT_PREFACE",
    "ErrorCode",
    "FrameType",
    "H2ConnectionError",
    "encode_header_block",
    "frame",
    "percent_encode",
    "settings_frame",
]

#: What every HTTP/2 client sends first (RFC 9113 section 3.4).
CLIENT_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class FrameType:
    """Frame type codes (RFC 9113 section 6)."""

    DATA = 0x0
    HEADERS = 0x1
    PRIORITY = 0x2
    RST_STREAM = 0x3
    SETTINGS = 0x4
    PUSH_PROMISE = 0x5
    PING = 0x6
    GOAWAY = 0x7
    WINDOW_UPDATE = 0x8
    CONTINUATION = 0x9


class Flag:
    """Frame flags (RFC 9113 section 6)."""

    END_STREAM = 0x1
    ACK = 0x1
    END_HEADERS = 0x4
    PADDED = 0x8
    PRIORITY = 0x20


class ErrorCode:
    """Error codes of RST_STREAM and GOAWAY (RFC 9113 section 7)."""

    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD


class H2ConnectionError(Exception):
    """An HTTP/2 connection error (RFC 9113 section 5.4.1): the connection ends with GOAWAY
    ``code`` (an :class:`ErrorCode`)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Setting:
    """SETTINGS parameters (RFC 9113 section 6.5.2)."""

    HEADER_TABLE_SIZE = 0x1
    ENABLE_PUSH = 0x2
    MAX_CONCURRENT_STREAMS = 0x3
    INITIAL_WINDOW_SIZE = 0x4
    MAX_FRAME_SIZE = 0x5
    MAX_HEADER_LIST_SIZE = 0x6


#: The largest flow-control window (2^31 - 1) and the frame size bounds.
MAX_WINDOW = 0x7FFFFFFF
DEFAULT_WINDOW = 65_535
MIN_FRAME_SIZE = 16_384
MAX_FRAME_SIZE_LIMIT = 0xFFFFFF

# Length and type share the first four bytes: ">I" of (length << 8 | type).
_HEADER = struct.Struct(">IBI")


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One frame: the 9-byte header and ``payload``."""
    return _HEADER.pack(len(payload) << 8 | kind, flags, stream_id) + payload


def frame_header(kind: int, flags: int, stream_id: int, length: int) -> bytes:
    """The 9-byte header of a frame whose payload of ``length`` bytes follows separately."""
    return _HEADER.pack(length << 8 | kind, flags, stream_id)


def settings_frame(settings: dict[int, int]) -> bytes:
    """A SETTINGS frame with ``settings`` (identifier -> value)."""
    payload = b"".join(struct.pack(">HI", key, value) for key, value in settings.items())
    return frame(FrameType.SETTINGS, 0, 0, payload)


def window_update(stream_id: int, increment: int) -> bytes:
    """A WINDOW_UPDATE frame giving the peer ``increment`` more bytes."""
    return frame(FrameType.WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))


def rst_stream(stream_id: int, code: int) -> bytes:
    """An RST_STREAM frame ending ``stream_id`` with error ``code``."""
    return frame(FrameType.RST_STREAM, 0, stream_id, struct.pack(">I", code))


def goaway(last_stream_id: int, code: int, debug: bytes = b"") -> bytes:
    """A GOAWAY frame: streams above ``last_stream_id`` were not and will not be processed."""
    return frame(FrameType.GOAWAY, 0, 0, struct.pack(">II", last_stream_id, code) + debug)


# -- HPACK, encoding side ----------------------------------------------------------------------


def _integer(value: int, prefix_bits: int, first: int) -> bytes:
    """An HPACK integer (RFC 7541 section 5.1) with ``first``'s high bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(value: bytes) -> bytes:
    # Never Huffman-coded: the blocks are tiny, and plain strings need no table to write.
    return _integer(len(value), 7, 0x00) + value


# Static-table indexes (RFC 7541 appendix A) of the fields the server sends.
_STATIC = {
    (b":status", b"200"): 8,
    (b":status", b"204"): 9,
    (b":status", b"206"): 10,
    (b":status", b"304"): 11,
    (b":status", b"400"): 12,
    (b":status", b"404"): 13,
    (b":status", b"500"): 14,
}
_STATIC_NAMES = {b":status": 8, b"content-type": 31, b"retry-after": 53}


def encode_header_block(headers: list[tuple[bytes, bytes]]) -> bytes:
    """An HPACK block for ``headers`` that leaves the peer's dynamic table untouched."""
    out = []
    for name, value in headers:
        index = _STATIC.get((name, value))
        if index is not None:
            out.append(_integer(index, 7, 0x80))
            continue
        name_index = _STATIC_NAMES.get(name)
        if name_index is not None:  # literal without indexing, indexed name
            out.append(_integer(name_index, 4, 0x00) + _string(value))
        else:  # literal without indexing, new name
            out.append(b"\x00" + _string(name) + _string(value))
    return b"".join(out)


# gRPC's percent-encoding of grpc-message: UTF-8, then every byte outside 0x20-0x7E and '%'
# itself as %XX (the gRPC HTTP/2 protocol document).
_PERCENT = [bytes([b]) if 0x20 <= b <= 0x7E and b != 0x25 else b"%%%02X" % b for b in range(256)]


def percent_encode(message: str) -> bytes:
    """``message`` as a ``grpc-message`` value."""
    raw = message.encode("utf-8", "replace")
    if all(0x20 <= b <= 0x7E and b != 0x25 for b in raw):
        return raw
    table = _PERCENT
    return b"".join([table[b] for b in raw])
