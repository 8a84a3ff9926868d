"""The REST server attacked as an outsider would, each attack bounded to about a second: the
server stays alive, legitimate REST and gRPC clients are answered within
``attack_server.LATENCY_S`` while it lasts, the server's memory grows by less than a stated
bound and comes back after (``attack_server.under_attack``). The server runs in a process of
its own, so that its memory is measured alone."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import interlock
import pytest
from attack_server import Served, grow_model, server, sum_model, under_attack
from interlock_conformance import requirement

MB = 1024 * 1024
HEAD = b"POST /v2/models/sum/infer HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("attack-rest") / "store")
    interlock.save_artifact(sum_model(), root, name="sum", version="1")
    interlock.save_artifact(grow_model(), root, name="grow", version="1")
    return root


@pytest.fixture(scope="module")
def served(store: str) -> Iterator[Served]:
    # A 4 MiB body limit keeps the budgets (64 MiB) small enough to reach in a second; a 3 s
    # read timeout is also the send timeout.
    with server(
        store,
        rest={"max_request_bytes": 4 * MB, "read_timeout_s": 3, "max_connections": 200},
        grpc={"max_request_bytes": 4 * MB, "read_timeout_s": 3},
    ) as running:
        yield running


def connect(served: Served) -> socket.socket:
    return socket.create_connection((served.host, served.rest_port), timeout=10)


def answer_of(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """What the server sends until it closes the connection (or ``timeout``)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return data


def flood(served: Served, send: Callable[[socket.socket], None], connections: int) -> Callable[
    [threading.Event], None
]:
    """An attack: ``connections`` sockets, each fed by ``send`` until it fails or stops."""

    def attack(stop: threading.Event) -> None:
        socks = [connect(served) for _ in range(connections)]
        try:
            threads = [threading.Thread(target=_feed, args=(s, send, stop)) for s in socks]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for sock in socks:
                sock.close()

    return attack


def _feed(sock: socket.socket, send: Callable[[socket.socket], None], stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            send(sock)
    except OSError:
        pass  # the server closed it: what most attacks earn


# -- the head ---------------------------------------------------------------------------------


@requirement("SRV-300")
def test_a_header_value_that_never_ends_gets_431_and_stalls_nobody(served: Served) -> None:
    answers: list[bytes] = []

    def endless(stop: threading.Event) -> None:
        socks = [connect(served) for _ in range(6)]
        for sock in socks:
            sock.sendall(b"GET /v2 HTTP/1.1\r\nHost: t\r\nx-a: ")
        chunk = b"v" * 65536
        try:
            for _ in range(200):  # 6 x 13 MB at most; the server closes long before
                for sock in socks:
                    sock.sendall(chunk)
        except OSError:
            pass
        for sock in socks:
            answers.append(answer_of(sock, 5))
            sock.close()

    outcome = under_attack(served, endless, peak_mb=32)  # 6 x 13 MB sent
    assert all(a.startswith(b"HTTP/1.1 431") for a in answers), [a[:40] for a in answers]
    print(outcome)


@requirement("SRV-300")
def test_twelve_thousand_empty_headers_get_431(served: Served) -> None:
    def many(sock: socket.socket) -> None:
        sock.sendall(b"GET /v2 HTTP/1.1\r\nHost: t\r\n" + b"x:\r\n" * 12_000 + b"\r\n")
        assert answer_of(sock).startswith(b"HTTP/1.1 431")
        raise OSError  # one request per connection

    def attack(stop: threading.Event) -> None:
        while not stop.is_set():
            with connect(served) as sock:
                try:
                    many(sock)
                except OSError:
                    pass

    print(under_attack(served, attack))


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /v2 HTTP/1.1\r\n\r\n", b"400"),  # no Host
        (b"GET /v2 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", b"400"),
        (b"GET /v2 HTTP/2.0\r\nHost: a\r\n\r\n", b"400"),
        (b"GET /v2\r\n\r\n", b"400"),  # HTTP/0.9 style
        (b"GET /v2/models/sum%2Finfer HTTP/1.1\r\nHost: a\r\n\r\n", b"400"),
        (HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", b"400"),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1;" + b"e" * 100_000 + b"\r\na\r\n", b""),
    ],
    ids=["no-host", "two-hosts", "http-2.0", "http-0.9", "encoded-slash", "te-gzip", "chunk-ext"],
)
@requirement("SRV-301")
def test_what_rfc_9112_forbids_is_refused(
    served: Served, request_bytes: bytes, status: bytes
) -> None:
    with connect(served) as sock:
        sock.sendall(request_bytes)
        answer = answer_of(sock, 5)
    if status:
        assert answer.split(b" ", 2)[1] == status, answer[:200]
    else:  # the chunk extension alone exceeds what a head may hold: refused, never buffered
        assert answer.split(b" ", 2)[1] in (b"400", b"413", b"431"), answer[:200]


@requirement("SRV-301")
def test_a_trailer_field_is_not_merged_into_the_headers(served: Served) -> None:
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    ).encode()
    chunked = b"%x\r\n%s\r\n0\r\nContent-Encoding: gzip\r\n\r\n" % (len(body), body)
    with connect(served) as sock:
        sock.sendall(HEAD + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked)
        answer = answer_of(sock, 5)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]  # the body was read as sent


@pytest.mark.parametrize("damage", ["truncated", "trailing garbage"])
@requirement("SRV-301")
def test_damaged_gzip_bodies_are_refused(served: Served, damage: str) -> None:
    body = gzip.compress(b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", '
                         b'"data": [1, 2, 3, 4]}]}')
    body = body[:-6] if damage == "truncated" else body + b"garbage"
    with connect(served) as sock:
        sock.sendall(HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
                     + body)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]


# -- bodies -----------------------------------------------------------------------------------


@requirement("SRV-302")
def test_a_gzip_bomb_is_refused_quickly_off_the_event_loop(served: Served) -> None:
    # 3.9 MiB of JSON numbers from a few KB: under the body limit once inflated, and millions
    # of elements, which the element bound refuses before parsing.
    document = b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [' + (
        b"0," * (2 * MB - 40)
    ) + b"0]}]}"
    bomb = gzip.compress(document, 9)
    took: list[float] = []

    def attack(stop: threading.Event) -> None:
        while not stop.is_set():
            with connect(served) as sock:
                start = time.perf_counter()
                sock.sendall(HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
                             % len(bomb) + bomb)
                answer = sock.recv(200)
                took.append(time.perf_counter() - start)
                assert answer.split(b" ", 2)[1] in (b"400", b"413"), answer

    print(under_attack(served, attack, peak_mb=96))
    assert took and max(took) < 2.0, took


@pytest.mark.parametrize(
    "shape", [[10**18, 0, 3], [0, 2**40], [2**31, 2]], ids=["1e18-0-3", "0-2^40", "2^32"]
)
@requirement("SRV-303")
def test_a_shape_beyond_any_array_is_a_400(served: Served, shape: list[int]) -> None:
    body = json.dumps({"inputs": [{"name": "x", "shape": shape, "datatype": "FP32", "data": []}]})
    with connect(served) as sock:
        sock.sendall(HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body.encode())
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert b"more than 2147483647 elements" in answer


@requirement("SRV-303")
def test_many_tensors_for_a_one_input_model_are_refused_before_decoding(served: Served) -> None:
    items = ",".join('{"name":"x%d","shape":[1],"datatype":"FP32","data":[1]}' % i
                     for i in range(20_000))
    body = ('{"inputs":[' + items + "]}").encode()
    with connect(served) as sock:
        start = time.perf_counter()
        sock.sendall(HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        answer = sock.recv(4096)
        took = time.perf_counter() - start
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"do not match its signature" in answer
    assert took < 2.0


@requirement("SRV-304")
def test_buffered_request_bytes_have_a_server_wide_budget(served: Served) -> None:
    # 30 clients each declaring a 4 MB body and sending it slowly: the server admits what
    # its 64 MiB budget holds and answers the others 503 with Retry-After at once.
    answers: list[bytes] = []

    def attack(stop: threading.Event) -> None:
        socks = [connect(served) for _ in range(30)]
        for sock in socks:
            sock.sendall(HEAD + b"Content-Length: %d\r\n\r\n" % (4 * MB - 100) + b"[" * 65536)
        time.sleep(0.5)
        for sock in socks:
            sock.settimeout(0.2)
            try:
                answers.append(sock.recv(4096))
            except socket.timeout:
                answers.append(b"")  # admitted: still waiting for its body
        for sock in socks:
            sock.close()

    print(under_attack(served, attack, peak_mb=96))
    refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
    assert len(refused) >= 10, [a[:20] for a in answers]
    assert all(b"retry-after: 1" in a for a in refused)


@requirement("SRV-305")
def test_clients_that_never_read_their_answers_are_dropped_after_the_send_timeout(
    served: Served,
) -> None:
    # 3 clients each ask for a 16 MiB answer and never read it: the answers fill the sockets
    # and the server's buffers (what the kernel does not take), then the send timeout (3 s)
    # drops them, and the memory they held.
    rows = 65_536
    data = bytes(rows * 16)
    document = json.dumps({
        "inputs": [{"name": "x", "shape": [rows, 4], "datatype": "FP32",
                    "parameters": {"binary_data_size": len(data)}}],
        "parameters": {"binary_data_output": True},
    }).encode()
    request = (b"POST /v2/models/grow/infer HTTP/1.1\r\nHost: t\r\n"
               b"Inference-Header-Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
               % (len(document), len(document) + len(data)) + document + data)
    counts: list[int] = []

    def attack(stop: threading.Event) -> None:
        socks = [connect(served) for _ in range(3)]
        ports = [sock.getsockname()[1] for sock in socks]
        for sock in socks:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(request)
        time.sleep(1.0)
        counts.append(served.holds(ports))  # held: the clients read nothing
        time.sleep(3.5)  # past the send timeout
        counts.append(served.holds(ports))  # dropped by the server
        for sock in socks:
            sock.close()

    def warm() -> None:  # three such answers, read: the runtime's arena grows to their size
        socks = [connect(served) for _ in range(3)]
        for sock in socks:
            sock.sendall(request)
        for sock in socks:
            reader = sock.makefile("rb")
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += reader.read(1)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            assert len(reader.read(length)) == length
            reader.close()
            sock.close()

    outcome = under_attack(served, attack, seconds=5, peak_mb=192, warm=warm)
    assert counts == [3, 0], counts
    print(outcome)


# -- attacks the server already held, kept as regressions ---------------------------------------


def _slowloris(sock: socket.socket) -> None:
    sock.sendall(b"G")
    time.sleep(0.05)


def _slow_body(sock: socket.socket) -> None:
    sock.sendall(HEAD + b"Content-Length: 100000\r\n\r\n")
    while True:
        sock.sendall(b"1")
        time.sleep(0.05)


def _pipelining(sock: socket.socket) -> None:
    # One burst of 10,000 requests, all read back, then a new connection.
    sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n" * 9_999
                 + b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert answer_of(sock, 10).count(b"HTTP/1.1 200") == 10_000
    raise OSError


def _smuggling(sock: socket.socket) -> None:
    sock.sendall(HEAD + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n")
    assert answer_of(sock, 2).startswith(b"HTTP/1.1 400")
    raise OSError


def _length_4gib(sock: socket.socket) -> None:
    sock.sendall(HEAD + b"Content-Length: 4294967296\r\n\r\n")
    assert answer_of(sock, 2).startswith(b"HTTP/1.1 413")
    raise OSError


@pytest.mark.parametrize(
    ("send", "connections"),
    [(_slowloris, 100), (_slow_body, 50), (_pipelining, 2), (_smuggling, 4), (_length_4gib, 4)],
    ids=["slowloris", "slow-body", "pipelining", "smuggling", "content-length-4GiB"],
)
@requirement("SRV-300")
def test_attacks_the_server_holds(
    served: Served, send: Callable[[socket.socket], None], connections: int
) -> None:
    def attack(stop: threading.Event) -> None:
        while not stop.is_set():  # reconnect when the server closes
            flood(served, send, connections)(stop)

    print(under_attack(served, attack))
