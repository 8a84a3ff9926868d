"""The checker's HTTP: one request per connection, the whole answer read as bytes, and the
event-stream parser of WHATWG HTML "Server-sent events" 9.2.6, so that what a server frames
wrongly is seen as it was sent (no SDK reads the answers for the checker)."""

from __future__ import annotations

import http.client
import json
import re
import socket
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from interlock import InterlockError

__all__ = ["Answer", "Event", "HttpClient", "parse_event_stream"]

_VARYING = re.compile(rb'("(?:id|created)"\s*:\s*)(?:"[^"]*"|\d+)')
#: The most bytes of one answer the checker reads (a server that sends more fails the check).
MAX_ANSWER_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers (lower-case names, repeated ones joined by ``, ``),
    body bytes, and what was asked (``POST /v1/chat/completions``) for messages."""

    status: int
    headers: dict[str, str]
    body: bytes
    what: str

    def header(self, name: str) -> str | None:
        """The value of header ``name``, if sent."""
        return self.headers.get(name.lower())

    def excerpt(self, size: int = 160) -> str:
        """The start of the body, for a message, with the values of ``id`` and ``created``
        (new in every answer) left out, so that the reports of two runs compare."""
        body = _VARYING.sub(lambda m: m.group(1) + b'"..."', self.body)
        return repr(body[:size]) + ("..." if len(body) > size else "")


class NoAnswer(InterlockError):
    """The server closed the connection or let the request time out."""


@dataclass
class HttpClient:
    """Sends requests to the server at ``url`` (``http://HOST:PORT``, an ``https`` one too),
    with ``Authorization: Bearer token`` unless told not to."""

    url: str
    token: str | None = None
    timeout_s: float = 30.0
    _parsed: urllib.parse.SplitResult = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._parsed = urllib.parse.urlsplit(self.url if "://" in self.url
                                             else f"http://{self.url}")
        if self._parsed.scheme not in ("http", "https") or not self._parsed.hostname:
            raise InterlockError(f"{self.url!r} is not an http:// or https:// URL",
                                 hint="give --openai as http://HOST:PORT")

    def reachable(self, timeout_s: float) -> None:
        """Raise :class:`InterlockError` unless something accepts connections there."""
        port = self._parsed.port or (443 if self._parsed.scheme == "https" else 80)
        try:
            socket.create_connection((self._parsed.hostname or "", port),
                                     timeout=timeout_s).close()
        except OSError as exc:
            raise InterlockError(f"no server answers at {self.url}: {exc.strerror or exc}",
                                 hint="start the server, or give --openai as http://HOST:PORT"
                                 ) from None

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True,
                raw: bytes | None = None) -> Answer:
        """``method path`` with ``body`` as JSON (or the bytes ``raw``); the whole answer."""
        base = self._parsed.path.rstrip("/")
        what = f"{method} {path}"
        headers = {"Accept": "application/json, text/event-stream"}
        data = raw if raw is not None else (None if body is None
                                            else json.dumps(body).encode("utf-8"))
        if data is not None:
            headers["Content-Type"] = "application/json"
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        kind = (http.client.HTTPSConnection if self._parsed.scheme == "https"
                else http.client.HTTPConnection)
        connection = kind(self._parsed.hostname or "", self._parsed.port, timeout=self.timeout_s)
        try:
            connection.request(method, base + path, data, headers)
            reply = connection.getresponse()
            payload = reply.read(MAX_ANSWER_BYTES + 1)
            merged: dict[str, str] = {}
            for name, value in reply.getheaders():
                key = name.lower()
                merged[key] = f"{merged[key]}, {value}" if key in merged else value
            return Answer(reply.status, merged, payload, what)
        except (OSError, http.client.HTTPException, socket.timeout) as exc:
            raise NoAnswer(f"{what} got no answer: {type(exc).__name__}: {exc}",
                           hint="is the server still running at this address?") from None
        finally:
            connection.close()


@dataclass(frozen=True)
class Event:
    """One dispatched server-sent event: its data (lines joined by LF) and the other fields
    it had (``event``, ``id``, ``retry``, unknown ones), by name."""

    data: str
    fields: dict[str, str]


def parse_event_stream(body: bytes) -> tuple[list[Event], str]:
    """The events of an event stream as WHATWG HTML 9.2.6 interprets it: lines end in CRLF, LF
    or CR; a line starting with ``:`` is a comment; ``name: value`` drops one space after the
    colon; a blank line dispatches the event when its data buffer is not empty; an event the
    stream ends in the middle of is not dispatched. Returns the events and the text of such an
    unfinished event ('' when the stream ended cleanly)."""
    text = body.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    events: list[Event] = []
    data: list[str] = []
    fields: dict[str, str] = {}
    pending: list[str] = []
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        if last and line == "":
            break  # the text after the final line break
        if line == "" and not last:
            if data:
                events.append(Event("\n".join(data), dict(fields)))
            data, fields, pending = [], {}, []
            continue
        pending.append(line)
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        value = value[1:] if colon and value.startswith(" ") else value
        if name == "data":
            data.append(value)
        else:
            fields[name] = value
    unfinished = "\n".join(pending) if data else ""
    return events, unfinished
