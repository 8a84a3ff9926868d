"""``interlock certify --openai URL``: interlock's own server passes every profile of
specs/v1/openai.md, and an independent implementation, ``transformers serve`` (transformers
5.24, FastAPI and uvicorn, on CPU), is caught exactly on its true deviations from the OpenAI API
reference. Both serve a tiny random Llama with a tokenizer trained here (tests/text_models.py),
built once per session; nothing is downloaded (``HF_HUB_OFFLINE=1``).

The deviations of ``transformers serve`` at ``openai-core``, each checked against the API
reference (what was sent, what came back, the sentence it breaks):

========= =====================================================================================
ID        evidence
========= =====================================================================================
OAI-002   ``GET /v1/models/tiny-llama`` answers 404 ``{"detail":"Not Found"}``: the server has no
          "Retrieve model" route (API reference "Models": ``GET /v1/models/{model}``)
OAI-006   ``n: 2`` answers 200 with one choice: ``n`` is "How many chat completion choices to
          generate"
OAI-007   ``stop: ["a"]`` answers ``"caf"``: the stop string lies inside the last token
          generated and is returned; ``stop``: "The returned text will not contain the stop
          sequence"
OAI-009   a completions request without ``max_tokens`` generates 1024 tokens: "Defaults to 16"
OAI-010   the streams end after the last chunk, without ``data: [DONE]``: ``stream``: "terminated
          by a data: [DONE] message"
OAI-012   a body that is not JSON answers 422 ``{"detail": [...]}``, a chat request without
          ``messages`` 500 ``Internal Server Error`` (text/plain), an unknown model 400
          ``{"detail": "Server is pinned to ..."}``: no error object ``{"error": {"message",
          "type", "param", "code"}}`` (OpenAPI ``ErrorResponse``)
========= =====================================================================================

Not deviations: the extra ``status`` member of its model objects (an observation), no
``/v1/embeddings`` (not offered, so OAI-013 is not tested), no key (OAI-012's 401 not claimed).
Its ``interlock-text`` failures are advice: 422 for a body that is not JSON, ``logprobs`` and
the other unimplemented parameters accepted and ignored, ``include_usage`` answered by a
``usage`` member on the last choice chunk rather than a chunk of empty ``choices`` (and the
streams, lacking ``[DONE]``, block the checks that read them), seeded ``n: 2`` answering one
choice.

The support table of both in docs/openai-conformance.md is generated here
(``REGENERATE_OPENAI_TABLE=1 pytest tests/test_certify_openai.py`` rewrites it; otherwise the
test fails when it is stale).
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import interlock
from interlock.cli import main
from interlock_conformance import Report, load_requirements, read_report, requirement
from interlock_conformance.oip.support import side_by_side
from interlock_conformance.openai import NO_MODEL, check_openai_server, registered_checks
from interlock_conformance.openai.profiles import PROFILES, load_profiles, profile_of
from interlock_conformance.openai.wire import parse_event_stream
from text_models import fast_tokenizer, tiny_bert, tiny_llama, tiny_tokenizer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "openai-conformance.md"
TOKEN = "openai-cert-token"
ALL_IDS = [i for i, r in load_requirements().items() if r.file == "openai.md"]

#: The openai-core failures of transformers serve, and a fragment of each one's evidence.
EXPECTED = {
    "OAI-002": "GET /v1/models/tiny-llama answered 404 with b'{\"detail\":\"Not Found\"}'",
    "OAI-006": "1 choice(s) with index [0] for n=2",
    "OAI-007": "which holds the stop sequence",
    "OAI-009": "generated 1024 tokens",
    "OAI-010": "does not end with data: [DONE]",
    "OAI-012": "answered 422 with b'{\"detail\"",
}


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The tiny Llama and BERT exported to an interlock store, and the same Llama saved with
    ``save_pretrained`` as ``<dir>/tiny-llama`` for transformers serve."""
    tokenizer = tiny_tokenizer()
    vocab = tokenizer.get_vocab_size()
    llama, fast = tiny_llama(vocab), fast_tokenizer(tokenizer)
    store = str(tmp_path_factory.mktemp("openai-store"))
    interlock.export(llama, fast, name="tiny-llama", store=store)
    interlock.export(tiny_bert(vocab), tokenizer, name="tiny-bert", store=store)
    peer = tmp_path_factory.mktemp("openai-peer")
    llama.save_pretrained(peer / "tiny-llama")
    fast.save_pretrained(peer / "tiny-llama")
    return store, peer


@pytest.fixture(scope="module")
def interlock_server(models: tuple[str, Path]) -> Iterator[interlock.RunningServer]:
    running = interlock.serve([models[0]], servers={"rest": 0}, token=TOKEN, block=False)
    yield running
    running.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def transformers_serve(models: tuple[str, Path]) -> Iterator[str]:
    """``transformers serve tiny-llama`` on 127.0.0.1 (CPU, offline); its URL."""
    port, peer = _free_port(), models[1]
    command = [str(Path(sys.executable).parent / "transformers"), "serve", "tiny-llama",
               "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    log = peer / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=peer, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"transformers serve did not come up: "
                                     f"{log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def reports(interlock_server: interlock.RunningServer, transformers_serve: str
            ) -> dict[str, Report]:
    return {"interlock": check_openai_server(interlock_server.url("rest"), token=TOKEN),
            "transformers serve 5.24": check_openai_server(transformers_serve)}


@requirement("OAI-001", "OAI-002", "OAI-003", "OAI-004", "OAI-005", "OAI-006", "OAI-007",
             "OAI-008", "OAI-009", "OAI-010", "OAI-011", "OAI-012", "OAI-013", "OAI-100",
             "OAI-101", "OAI-102", "OAI-103", "OAI-104", "OAI-105", "OAI-106")
def test_interlock_server_passes_every_profile(
    interlock_server: interlock.RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """interlock's own server, its models discovered by GET /v1/models, passes openai-core
    and interlock-text: every requirement is tested and passes."""
    out = tmp_path / "out"
    code, stdout, stderr = run(["certify", "--openai", interlock_server.url("rest"), "--token",
                                TOKEN, "--profile", "interlock-text", "--output", str(out)],
                               capsys)
    report = read_report(out / "report.json")
    assert code == 0, (stderr, [(r.id, r.failures) for r in report.failed()])
    assert stdout.startswith("certified: http://") and "FAILED" not in stderr
    assert "ADVICE" not in stderr and "openai-core (verdict): passed" in stderr
    assert {r.id: r.status for r in report.requirements} == dict.fromkeys(ALL_IDS, "passed")
    assert {p.name: (p.role, p.status) for p in report.profiles} == {
        "openai-core": ("verdict", "passed"), "interlock-text": ("verdict", "passed")}
    assert report.components[0].capabilities == ["auth", "chat", "completions", "embeddings"]
    assert "generation model 'tiny-llama', embedding model 'tiny-bert'" in report.plugin.module
    assert {"OAI-012", "OAI-010"} <= {o.requirement for o in report.observations}
    support = (out / "support.md").read_text(encoding="utf-8")
    assert "| OAI-010 SSE framing, `data: [DONE]` | openai-core | yes |" in support
    assert (out / "junit.xml").exists() and "CERTIFIED" in (out / "summary.md").read_text()


@requirement("OAI-002", "OAI-006", "OAI-007", "OAI-009", "OAI-010", "OAI-012", "OAI-001",
             "OAI-003", "OAI-008")
def test_transformers_serve_findings_are_the_true_deviations(reports: dict[str, Report]) -> None:
    report = reports["transformers serve 5.24"]
    core = {r.id: " ".join(f.message for f in r.failures) for r in report.failed()
            if profile_of(r.id) == "openai-core"}
    assert set(core) == set(EXPECTED), core
    for ident, fragment in EXPECTED.items():
        assert fragment in core[ident], (ident, core[ident])
    assert report.verdict == "not certified"
    statuses = {r.id: r.status for r in report.requirements}
    for ident in ("OAI-001", "OAI-003", "OAI-004", "OAI-005", "OAI-008"):
        assert statuses[ident] == "passed", (ident, statuses[ident])
    assert statuses["OAI-013"] == "not tested"  # no embeddings endpoint: nothing to hold it to
    advice = next(p for p in report.profiles if p.name == "interlock-text")
    assert advice.role == "advice" and advice.status == "failed"
    assert any(o.requirement == "OAI-001" and "'status'" in o.message
               for o in report.observations)


@requirement("OAI-010", "OAI-101")
def test_the_command_names_each_failure_and_the_advice(
    transformers_serve: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the command line, with the model given: each openai-core failure is a FAILED line,
    each interlock-text one an ADVICE line, then one line per profile."""
    code, stdout, stderr = run(["certify", "--openai", transformers_serve, "--model",
                                "tiny-llama", "--output", str(tmp_path / "out")], capsys)
    assert code == 1 and stdout.startswith(f"not certified: {transformers_serve}")
    assert "FAILED [openai-core] OAI-010 openai::streams: POST /v1/chat/completions" in stderr
    assert "ADVICE [interlock-text] OAI-101 openai::unsupported_parameters" in stderr
    assert "openai-core (verdict): failed" in stderr and "interlock-text (advice)" in stderr
    report = read_report(tmp_path / "out" / "report.json")
    assert report.plugin.module.endswith("given: ['tiny-llama']; generation model "
                                         "'tiny-llama', embedding model None")


@requirement("OAI-001", "OAI-012")
def test_no_model_no_certificate(interlock_server: interlock.RunningServer, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A server whose model list is empty, or that refuses the checker's key, is not
    certified for want of a model, with --json on stdout."""
    with _empty_server() as url:
        code, stdout, stderr = run(["certify", "--openai", url, "--json", "--output",
                                    str(tmp_path / "a")], capsys)
    assert code == 1 and json.loads(stdout)["verdict"] == "not certified"
    assert f"{NO_MODEL}: {url}" in stderr
    report = check_openai_server(interlock_server.url("rest"))  # no key
    assert (report.error or "").startswith(NO_MODEL) and "GET /v1/models answered 401" in (
        report.error or "")


class _EmptyList(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        body = b'{"object": "list", "data": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _empty_server:  # noqa: N801 (used as a context manager)
    def __enter__(self) -> str:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EmptyList)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@requirement("OAI-010")
def test_event_streams_are_read_as_whatwg_says() -> None:
    """CRLF, CR and LF line ends, comments, ``data:`` with or without its space, multi-line
    data, other fields; an event the stream ends inside is not dispatched."""
    events, unfinished = parse_event_stream(
        b"\xef\xbb\xbf: hello\r\ndata: a\r\n\r\ndata:b\rdata: c\r\rid: 7\nevent: x\ndata: [DONE]"
        b"\n\n")
    assert [(e.data, e.fields) for e in events] == [
        ("a", {}), ("b\nc", {}), ("[DONE]", {"id": "7", "event": "x"})]
    assert unfinished == ""
    events, unfinished = parse_event_stream(b"data: {}\n\ndata: [DONE]\n")
    assert [e.data for e in events] == ["{}"] and unfinished == "data: [DONE]"
    assert parse_event_stream(b": only a comment\n") == ([], "")


@requirement("OAI-001")
def test_profiles_cover_every_requirement_and_check() -> None:
    """openai.md's profile table lists every OAI requirement once, core rows citing the API
    reference; each check cites requirements of its own profile only."""
    table = load_profiles()
    assert sorted(table) == ALL_IDS
    for entry in table.values():
        assert entry.profile in PROFILES and entry.source, entry
        if entry.profile == "openai-core":
            assert "API reference" in entry.source or "OpenAPI" in entry.source, entry
    for check in registered_checks():
        assert {profile_of(i) for i in check.requirements} == {check.profile}, check.id
        assert set(check.requirements) <= set(ALL_IDS), check.id


def test_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(["certify", "--openai", "http://127.0.0.1:9", "--server",
                        "http://127.0.0.1:9"], capsys)
    assert code == 2 and "--openai URL certifies one" in err
    code, _, err = run(["certify", "--openai", "http://127.0.0.1:9", "--profile", "oip-core"],
                       capsys)
    assert code == 2 and "openai-core, interlock-text" in err
    code, _, err = run(["certify", "--server", "http://127.0.0.1:9", "--profile",
                        "interlock-text"], capsys)
    assert code == 2 and "it applies with --openai" in err
    code, _, err = run(["certify", "--openai", "ftp://x", "--output", str(tmp_path / "o")],
                       capsys)
    assert code == 1 and "is not an http:// or https:// URL" in err and "--openai" in err
    code, _, err = run(["certify", "--openai", "http://127.0.0.1:9", "--output",
                        str(tmp_path / "o")], capsys)
    assert code == 1 and "no server answers at http://127.0.0.1:9" in err
    assert not (tmp_path / "o" / "report.json").exists()


START, END = "<!-- openai-support-table -->", "<!-- end openai-support-table -->"


def test_docs_show_the_support_tables_side_by_side(reports: dict[str, Report]) -> None:
    table = side_by_side(reports)
    text = DOCS.read_text(encoding="utf-8")
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    fresh = f"{before}{START}\n{table}{END}{after}"
    if os.environ.get("REGENERATE_OPENAI_TABLE"):
        DOCS.write_text(fresh, encoding="utf-8")
        text = fresh
    assert START in text and END in text, f"{DOCS} lacks the {START} markers"
    assert text == fresh, ("docs/openai-conformance.md's support table is stale: run "
                           "REGENERATE_OPENAI_TABLE=1 pytest tests/test_certify_openai.py")
