"""Certify any OpenAI-compatible server by its address (``interlock certify --openai URL``).

::

    from interlock_conformance.openai import check_openai_server
    report = check_openai_server("http://127.0.0.1:8000", model="tiny-llama")
    print(report.verdict, [r.id for r in report.failed()])

The checker finds the models to check (:func:`discover_models`), what the server offers
(chat, completions, embeddings, a key), runs every check of ``specs/v1/openai.md`` that applies,
and reports each finding against the requirement it breaks in the same report as every other
certification (``report.json``, ``junit.xml``, ``summary.md``, and the support table
``support.md``), with the server's address as the subject.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from interlock import InterlockError

from interlock_conformance.oip.checks import Blocked, CheckFailure, NotApplicable
from interlock_conformance.openai.profiles import (
    OPENAI_SPEC,
    PROFILES,
    broken_rule,
    judge_by_profile,
    profile_results,
)
from interlock_conformance.openai.support import support_rows
from interlock_conformance.openai.target import (
    CORE,
    OpenAICheck,
    OpenAITarget,
    defined_checks,
)
from interlock_conformance.openai.wire import HttpClient, NoAnswer
from interlock_conformance.report import (
    CaseResult,
    ComponentSummary,
    Observation,
    PluginSummary,
    Report,
    count,
    current_environment,
)

__all__ = ["NO_MODEL", "certify_openai_server", "check_openai_server", "discover_models",
           "registered_checks", "run_check"]

NO_MODEL = "not certified: no model to test (pass --model NAME)"
_PACKAGES = ("interlock", "pytest")
#: The most listed models discovery tries.
MAX_CANDIDATES = 8


def registered_checks() -> list[OpenAICheck]:
    """Every check of openai.md, core first, in definition order."""
    import interlock_conformance.openai.core_checks  # noqa: F401  (registers its checks)
    import interlock_conformance.openai.strict_checks  # noqa: F401

    return sorted(defined_checks(), key=lambda c: c.profile != CORE)


def run_check(check: OpenAICheck, target: OpenAITarget) -> list[CaseResult]:
    """Run one check: one result, or none when it has nothing to look at."""
    started = time.perf_counter()
    outcome, message, cause = "passed", None, None
    target.case = check.id
    try:
        check.function(target)
    except NotApplicable:
        return []
    except CheckFailure as failure:
        outcome, message, cause = "failed", str(failure), failure.requirement
        if isinstance(failure, Blocked) or (cause and cause not in check.requirements):
            message = f"could not check {check.summary[:80]!r}: {failure}"
    except NoAnswer as silence:
        outcome, message = "failed", str(silence)
    except InterlockError:
        raise
    except Exception as exc:  # an answer the checker did not foresee is still a finding
        outcome, message = "failed", f"{type(exc).__name__}: {exc}"
    if message:
        message = f"{message[:360]} ({broken_rule(cause, check.requirements)})"
    return [CaseResult(
        id=check.id, kind="server", component="openai", requirements=list(check.requirements),
        capabilities=list(check.capabilities), outcome=outcome,  # type: ignore[arg-type]
        duration_s=time.perf_counter() - started, message=message[:500] if message else None,
        root_cause=cause, profile=check.profile)]


def _probe(target: OpenAITarget, path: str, body: dict[str, object]) -> int:
    try:
        return target.call("POST", path, body).status
    except NoAnswer:
        return 0


def discover_models(target: OpenAITarget, given: Sequence[str]) -> str:
    """Set the target's generation and embedding models: the ``given`` ones, else those
    ``GET /v1/models`` lists (at most 8), each tried with a one-token chat completion, then a
    completion, then an embedding; returns how they were found, for the report."""
    candidates = list(given)
    how = f"given: {candidates}"
    if not candidates:
        answer = target.call("GET", "/v1/models")
        try:
            data = json.loads(answer.body).get("data") if answer.status == 200 else None
        except (ValueError, AttributeError):
            data = None
        if not isinstance(data, list):
            return f"GET /v1/models answered {answer.status} with {answer.excerpt(100)}"
        candidates = [e["id"] for e in data if isinstance(e, dict)
                      and isinstance(e.get("id"), str)][:MAX_CANDIDATES]
        how = f"listed by GET /v1/models: {candidates}"
    hello = [{"role": "user", "content": "hello"}]
    for model in candidates:
        if target.model is None and (
                _probe(target, "/v1/chat/completions",
                       {"model": model, "messages": hello, "max_tokens": 1}) == 200
                or _probe(target, "/v1/completions",
                          {"model": model, "prompt": "hello", "max_tokens": 1}) == 200):
            target.model = model
        elif target.embedding_model is None and _probe(
                target, "/v1/embeddings", {"model": model, "input": "hello"}) == 200:
            target.embedding_model = model
    if target.model is None and given and given[0] != target.embedding_model:
        target.model = given[0]  # what was asked for is checked, answering or not
    return (f"{how}; generation model {target.model!r}, embedding model "
            f"{target.embedding_model!r}")


def _claims(target: OpenAITarget) -> frozenset[str]:
    claims = {"chat"}
    if target.token:
        claims.add("auth")
    if target.embedding_model is not None:
        claims.add("embeddings")
    if target.model is not None:
        status = _probe(target, "/v1/completions",
                        {"model": target.model, "prompt": "hello", "max_tokens": 1})
        if status not in (0, 404, 405, 501):
            claims.add("completions")
    return frozenset(claims)


def check_openai_server(url: str, model: str | Sequence[str] | None = None,
                        token: str | None = None, *, profiles: Iterable[str] = (),
                        timeout_s: float = 30.0) -> Report:
    """Check the OpenAI-compatible server at ``url`` (``http://HOST:PORT``, without ``/v1``)
    against ``specs/v1/openai.md``, per profile.

    ``model`` names the model(s) to check; without one they are discovered
    (:func:`discover_models`), and a server with no model that answers is "not certified"
    (:data:`NO_MODEL`). ``token`` is sent as ``Authorization: Bearer`` and turns on the key
    check. The verdict is ``openai-core`` plus the ``profiles`` asked for (``interlock-text``
    is otherwise reported as advice). Raises :class:`interlock.InterlockError` for an unknown
    profile or a server that does not answer.
    """
    asked = set(profiles)
    if asked - set(PROFILES):
        raise InterlockError(f"unknown profile(s) {sorted(asked - set(PROFILES))}",
                             hint=f"profiles: {', '.join(PROFILES)}")
    HttpClient(url).reachable(min(timeout_s, 10.0))
    given = [model] if isinstance(model, str) else list(model or [])
    started = dt.datetime.now(dt.timezone.utc)
    target = OpenAITarget(url=url.rstrip("/"), token=token, timeout_s=timeout_s)
    discovery = discover_models(target, given)
    target.claims = _claims(target)
    cases: list[CaseResult] = []
    for check in registered_checks():
        if not check.applies_to(target):
            continue
        missing = check.missing(target.claims)
        if missing:
            cases.append(CaseResult(
                id=check.id, kind="server", component="openai",
                requirements=list(check.requirements), capabilities=list(check.capabilities),
                outcome="not claimed", missing_capabilities=missing, profile=check.profile))
            continue
        cases.extend(run_check(check, target))
    return _report(target, cases, started, discovery, {CORE, *asked})


def _report(target: OpenAITarget, cases: list[CaseResult], started: dt.datetime,
            discovery: str, required: set[str]) -> Report:
    import interlock

    from interlock_conformance.locations import SPEC_VERSION
    from interlock_conformance.requirements import load_requirements

    finished = dt.datetime.now(dt.timezone.utc)
    requirements = {i: r for i, r in load_requirements().items() if r.file == OPENAI_SPEC}
    results = judge_by_profile(requirements, cases)
    profiles = profile_results(results, required)
    has_model = target.model is not None or target.embedding_model is not None
    error = None if has_model else f"{NO_MODEL}; {discovery}"
    passed = not error and all(p.status == "passed" for p in profiles if p.role == "verdict")
    observations = [Observation(case=c, requirement=r, message=m)
                    for c, r, m in target.observations]
    return Report(
        spec_version=SPEC_VERSION, suite_version=interlock.__version__,
        plugin=PluginSummary(name=target.url, distribution=None, version=None,
                             module=f"OpenAI-compatible server (checked by address); models "
                             f"{discovery}", status="reachable"),
        components=[ComponentSummary(kind="server", name="openai", description=target.url,
                                     capabilities=sorted(target.claims))],
        environment=current_environment(_PACKAGES), started_at=started, finished_at=finished,
        duration_s=(finished - started).total_seconds(), vectors_sha256=None,
        requirements=results, cases=cases, counts=count(results, cases),
        verdict="certified" if passed else "not certified", error=error, profiles=profiles,
        observations=observations,
        support=support_rows(results, cases, observations, target.claims, discovery),
    )


def certify_openai_server(output_dir: str | os.PathLike[str], url: str,
                          model: str | Sequence[str] | None = None, token: str | None = None,
                          *, profiles: Iterable[str] = ()) -> Report:
    """:func:`check_openai_server`, then ``report.json``, ``junit.xml``, ``summary.md`` and
    ``support.md`` written into ``output_dir`` (what ``interlock certify --openai URL``
    runs)."""
    from interlock_conformance.oip.support import SUPPORT_FILE, support_markdown
    from interlock_conformance.report import REPORT_FILES, write_file, write_reports

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    for name in (*REPORT_FILES, SUPPORT_FILE):  # an earlier run's report must not pass for this
        (output / name).unlink(missing_ok=True)
    report = check_openai_server(url, model=model, token=token, profiles=profiles)
    write_reports(report, output)
    write_file(output / SUPPORT_FILE, support_markdown(report).encode("utf-8"))
    return report
