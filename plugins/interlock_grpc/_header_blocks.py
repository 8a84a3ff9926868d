"""Request header blocks of one HTTP/2 connection: HPACK-decoded, parsed, and cached.

Decoding a header block in Python costs more than the rest of a small call, but a client
sends the same block again and again once its fields sit in the HPACK table (the same path,
content type and metadata, as indexed fields). A block that leaves the decoder's table
unchanged decodes to the same headers for as long as the table stays unchanged, so its parsed
form is cached by its bytes; any block that changes the table empties the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hpack

from interlock_grpc._frames import ErrorCode, H2ConnectionError

__all__ = ["HeaderBlockDecoder"]

_HEADS_CACHED = 256  # parsed header blocks kept per connection
#: A header list this many times the limit is a connection error (an HPACK bomb: the decoder
#: stops inside the block, so its table no longer follows the client's); one between the
#: limit and that is decoded whole and refused for its stream alone.
_HARD_FACTOR = 8
#: Most header fields in one request (nginx and Envoy allow about 100); above, the request
#: alone is refused.
MAX_FIELDS = 100


class HeaderBlockDecoder:
    """Turns each complete header block into the request head ``parse_head(headers)`` makes.

    Every block of the connection must go through :meth:`decode`, in order, even one whose
    stream is gone: the decoder's table follows them all.
    """

    __slots__ = ("_decoder", "_heads", "_max_size", "_parse_head", "_refuse_head")

    def __init__(
        self,
        max_header_list_size: int,
        parse_head: Callable[[list[tuple[bytes, bytes]]], Any],
        refuse_head: Callable[[str], Any],
    ) -> None:
        self._decoder = hpack.Decoder()
        self._decoder.max_header_list_size = _HARD_FACTOR * max_header_list_size
        self._max_size = max_header_list_size
        self._parse_head = parse_head
        self._refuse_head = refuse_head
        self._heads: dict[bytes, Any] = {}

    def decode(self, block: bytes) -> Any:
        """The parsed head of ``block`` (``refuse_head(why)`` for a header list over the
        limit or with too many fields); raises :class:`H2ConnectionError` for a compression
        error or a header list far over the limit."""
        head = self._heads.get(block)
        if head is not None:
            return head
        table = self._decoder.header_table
        entries = table.dynamic_entries
        before = (len(entries), entries[0] if entries else None, table.maxsize)
        try:
            headers = list(self._decoder.decode(block, raw=True))
        except hpack.OversizedHeaderListError:
            raise H2ConnectionError(
                ErrorCode.ENHANCE_YOUR_CALM,
                f"a header list larger than {_HARD_FACTOR * self._max_size} bytes",
            ) from None
        except hpack.HPACKError as exc:
            raise H2ConnectionError(ErrorCode.COMPRESSION_ERROR, f"header block: {exc}") from None
        size = sum(len(name) + len(value) + 32 for name, value in headers)  # RFC 9113 6.5.2
        if size > self._max_size or len(headers) > MAX_FIELDS:
            self._heads.clear()
            what = f"{len(headers)} header fields" if len(headers) > MAX_FIELDS else f"{size} bytes"
            return self._refuse_head(
                f"the request's header list ({what}) exceeds the server's limit of "
                f"{self._max_size} bytes and {MAX_FIELDS} fields"
            )
        head = self._parse_head(headers)  # type: ignore[arg-type]
        after = (len(entries), entries[0] if entries else None, table.maxsize)
        if before[0] == after[0] and before[1] is after[1] and before[2] == after[2]:
            if len(self._heads) >= _HEADS_CACHED:
                self._heads.clear()
            self._heads[block] = head
        else:
            self._heads.clear()  # the table changed: cached blocks may now mean otherwise
        return head
