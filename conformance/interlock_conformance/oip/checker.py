"""Certify any running Open Inference Protocol server by its address (``interlock certify
--server URL --grpc HOST:PORT``).

::

    from interlock_conformance.oip import check_server
    report = check_server("http://127.0.0.1:8000", "127.0.0.1:8001", model="mlp")
    print(report.verdict, [r.id for r in report.failed()])

The checker sends its requests through the raw layer of the serving kit's client
(:mod:`interlock.serving.oip.client`: any request in, the whole answer out, nothing judged),
writes and reads the tensors in them from the protocol's text alone
(:mod:`interlock_conformance.oip.tensors`, no code shared with interlock's servers), builds
every request from the model metadata the server reports, and reports each finding against
the requirement of ``specs/v1/serving.md`` it breaks, in the same report as a plugin certification
(``report.json``, ``junit.xml``, ``summary.md``), with the server's address as the subject.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from pathlib import Path

from interlock import InterlockError
from interlock.serving.oip.client import NoAnswerError

from interlock_conformance.oip.checks import (
    Blocked,
    Check,
    CheckFailure,
    Expectations,
    ExpectedModel,
    NotApplicable,
    Target,
    defined_checks,
)
from interlock_conformance.oip.discovery import discover_models
from interlock_conformance.oip.profiles import (
    CORE,
    EXTENSIONS,
    PROFILES,
    broken_rule,
    judge_by_profile,
    profile_results,
)
from interlock_conformance.oip.rest_messages import json_object
from interlock_conformance.oip.support import (
    SUPPORT_FILE,
    ServerFacts,
    support_markdown,
    support_rows,
)
from interlock_conformance.report import (
    current_environment,
    CaseResult,
    ComponentSummary,
    Observation,
    PluginSummary,
    Report,
    count,
)

__all__ = [
    "Check",
    "Expectations",
    "ExpectedModel",
    "Target",
    "NO_MODEL",
    "certify_server",
    "check_server",
    "discover_models",
    "registered_checks",
    "run_check",
]

#: The spec file whose requirements a server report lists.
SERVING_SPEC = "serving.md"
_PACKAGES = ("interlock", "numpy", "grpcio", "protobuf", "pytest")


def registered_checks(*, by_address: bool = False) -> list[Check]:
    """The checks of interlock's serving profile, which a plugin certification runs; with
    ``by_address``, the checks of the protocol core and its extensions too (what
    :func:`check_server` runs): REST first, in definition order."""
    import interlock_conformance.oip.core_grpc  # noqa: F401  (registers its checks)
    import interlock_conformance.oip.core_rest  # noqa: F401
    import interlock_conformance.oip.grpc_checks  # noqa: F401
    import interlock_conformance.oip.rest_binary_checks  # noqa: F401
    import interlock_conformance.oip.rest_checks  # noqa: F401

    checks = [c for c in defined_checks() if by_address or not c.by_address]
    return sorted(checks, key=lambda c: (c.protocol != "rest", not c.by_address))


def run_check(check: Check, target: Target) -> list[CaseResult]:
    """Run one check against ``target``: one result per model for a per-model check, else
    one; nothing for a run that does not apply (:class:`NotApplicable`)."""
    if check.scope == "model":
        runs = [(f"{check.id}[{model}]", model) for model in target.models]
    else:
        runs = [(check.id, target.models[0] if target.models else "")]
    results = []
    for case_id, model in runs:
        started = time.perf_counter()
        outcome, message, cause = "passed", None, None
        target.case = case_id
        try:
            check.function(target, model)
        except NotApplicable:
            continue
        except CheckFailure as failure:
            outcome, message, cause = "failed", str(failure), failure.requirement
            if isinstance(failure, Blocked) or (cause and cause not in check.requirements):
                # The check did not get to what it is about (CONF-026).
                message = f"could not check {check.summary[:80]!r}: {failure}"
        except NoAnswerError as silence:  # a server that stops answering fails what is asked
            outcome, message = "failed", str(silence)
        except InterlockError:
            raise
        except Exception as exc:  # a reply the checker did not foresee is still a finding
            outcome, message = "failed", f"{type(exc).__name__}: {exc}"
        if message and "(SRV-" not in message:
            message = f"{message[:360]} ({broken_rule(cause, check.requirements)})"
        results.append(
            CaseResult(
                id=case_id,
                kind="server",
                component=check.protocol,
                requirements=list(check.requirements),
                capabilities=list(check.capabilities),
                outcome=outcome,  # type: ignore[arg-type]
                duration_s=time.perf_counter() - started,
                message=message[:500] if message else None,
                root_cause=cause,
                profile=check.profile,
            )
        )
    return results


def _reachable_http(url: str, timeout_s: float) -> None:
    parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "", port), timeout=timeout_s).close()
    except OSError as exc:
        raise InterlockError(
            f"no server answers at {url}: {exc.strerror or exc}",
            hint="start the server, or give its address as http://HOST:PORT",
        ) from None


def _reachable_grpc(address: str, timeout_s: float) -> None:
    host, _, port = address.removeprefix("grpc://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as exc:
        raise InterlockError(
            f"no gRPC server answers at {address}: {exc}",
            hint="start the server, or give its address as HOST:PORT",
        ) from None


def _claims(target: Target, claims: Iterable[str] | None) -> frozenset[str]:
    if claims is not None:
        return frozenset(claims)
    derived = set()
    if target.http_url:
        derived.add("rest")
        if target.token:
            derived.add("rest.auth")
        try:  # the server says whether it speaks the binary extension
            response = target.rest.request("GET", "/v2")
            extensions = json_object(response).get("extensions") if response.status == 200 else []
            if isinstance(extensions, list) and "binary_tensor_data" in extensions:
                derived.add("rest.binary-data")
        except (CheckFailure, NoAnswerError):
            pass
    if target.grpc_address:
        derived.add("grpc")
        if target.token:
            derived.add("grpc.auth")
    return frozenset(derived)


def _server_version(target: Target) -> str | None:
    try:
        if target.http_url:
            version = json_object(target.rest.request("GET", "/v2")).get("version")
            return version if isinstance(version, str) else None
        client = target.grpc
        result = client.call("ServerMetadata", client.messages.ServerMetadataRequest())
        if result.code is not None or not result.response.version:
            return None
        return str(result.response.version)
    except (CheckFailure, NoAnswerError):
        return None


NO_MODEL = "not certified: no model to test (pass --model NAME)"


def check_server(
    http_url: str | None = None,
    grpc_address: str | None = None,
    model: str | Sequence[str] | None = None,
    token: str | None = None,
    *,
    claims: Iterable[str] | None = None,
    expected: Expectations | None = None,
    timeout_s: float = 10.0,
    profiles: Iterable[str] = (),
) -> Report:
    """Check the Open Inference Protocol server at ``http_url`` (REST) and/or
    ``grpc_address`` (``HOST:PORT``) against ``specs/v1/serving.md``, per profile.

    ``model`` names the model(s) to check; without one, they are discovered from the
    repository index (:func:`discover_models`), and a server whose models cannot be found is
    "not certified" (:data:`NO_MODEL`). ``token`` is sent as ``Authorization: Bearer`` and
    turns on the token checks. The verdict is ``oip-core`` plus the extension profiles the
    server declares in ``GET /v2`` ``extensions``, plus ``profiles`` asked for (such as
    ``interlock-serving``, otherwise reported as advice). ``claims`` overrides the
    capabilities the server is held to; ``expected`` adds what the caller knows (golden
    outputs, names). Raises :class:`interlock.InterlockError` when no address is given, a
    profile is unknown, or nothing answers there.
    """
    if not http_url and not grpc_address:
        raise InterlockError(
            "check_server() needs an address: http_url, grpc_address or both",
            hint="pass http_url='http://HOST:PORT' and/or grpc_address='HOST:PORT'",
        )
    asked = set(profiles)
    if asked - set(PROFILES):
        raise InterlockError(f"unknown profile(s) {sorted(asked - set(PROFILES))}",
                             hint=f"profiles: {', '.join(PROFILES)}")
    if http_url:
        _reachable_http(http_url, timeout_s)
    if grpc_address:
        _reachable_grpc(grpc_address, timeout_s)
    models = [model] if isinstance(model, str) else list(model or [])
    started = dt.datetime.now(dt.timezone.utc)
    target = Target(http_url=http_url, grpc_address=grpc_address, models=models, token=token,
                    expected=expected, timeout_s=timeout_s)
    try:
        discovery = f"given: {models}"
        if not models:
            target.models, discovery = discover_models(target)
        target.claims = _claims(target, claims)
        cases = _run_checks(target)
        version = _server_version(target)
        extensions = _extensions(target)
    finally:
        target.close()
    return _server_report(target, cases, version, started,
                          ServerFacts(discovery, extensions, asked))


def _extensions(target: Target) -> list[str]:
    """What ``GET /v2`` (or ServerMetadata) lists in ``extensions``."""
    try:
        if target.http_url:
            response = target.rest.request("GET", "/v2")
            found = json_object(response).get("extensions") if response.status == 200 else []
            return [e for e in found if isinstance(e, str)] if isinstance(found, list) else []
        client = target.grpc
        result = client.call("ServerMetadata", client.messages.ServerMetadataRequest())
        return [] if result.code is not None else [str(e) for e in result.response.extensions]
    except (CheckFailure, NoAnswerError):
        return []


def _run_checks(target: Target) -> list[CaseResult]:
    """Every check that applies to ``target``, of every profile: run when its capabilities
    are claimed, else reported "not claimed"."""
    cases: list[CaseResult] = []
    for check in registered_checks(by_address=True):
        if not check.applies_to(target):
            continue
        missing = check.missing(target.claims)
        if missing:
            cases.append(CaseResult(
                id=check.id, kind="server", component=check.protocol,
                requirements=list(check.requirements), capabilities=list(check.capabilities),
                outcome="not claimed", missing_capabilities=missing, profile=check.profile,
            ))
            continue
        cases.extend(run_check(check, target))
    return cases


def _server_report(target: Target, cases: list[CaseResult], version: str | None,
                   started: dt.datetime, facts: ServerFacts) -> Report:
    """The report of a server checked by address: ``serving.md``'s requirements judged per
    profile by ``cases``, the address as the subject, the verdict of the profiles it is held
    to."""
    import interlock

    from interlock_conformance.locations import SPEC_VERSION
    from interlock_conformance.requirements import load_requirements

    finished = dt.datetime.now(dt.timezone.utc)
    requirements = {
        ident: r for ident, r in load_requirements().items() if r.file == SERVING_SPEC
    }
    results = judge_by_profile(requirements, cases)
    declared = {EXTENSIONS[e] for e in facts.extensions if e in EXTENSIONS}
    required = {CORE, *declared, *facts.asked}
    profiles = profile_results(results, declared, required)
    http_url, grpc_address, models = target.http_url, target.grpc_address, target.models
    grpc_url = f"grpc://{grpc_address.removeprefix('grpc://')}" if grpc_address else None
    components = [
        ComponentSummary(
            kind="server", name=protocol, description=address,
            capabilities=sorted(c for c in target.claims if c.split(".")[0] == protocol),
        )
        for protocol, address in (("rest", http_url), ("grpc", grpc_address)) if address
    ]
    error = None if models else f"{NO_MODEL}; {facts.discovery}"
    passed = not error and all(p.status == "passed" for p in profiles if p.role == "verdict")
    observations = [Observation(case=c, requirement=r, message=m)
                    for c, r, m in target.observations]
    return Report(
        spec_version=SPEC_VERSION,
        suite_version=interlock.__version__,
        plugin=PluginSummary(
            name=" + ".join(a for a in (http_url, grpc_url) if a), distribution=None,
            version=version,
            module="Open Inference Protocol server (checked by address); models "
            + (facts.discovery if models else "none"),
            status="reachable",
        ),
        components=components,
        environment=current_environment(_PACKAGES),
        started_at=started,
        finished_at=finished,
        duration_s=(finished - started).total_seconds(),
        vectors_sha256=None,
        requirements=results,
        cases=cases,
        counts=count(results, cases),
        verdict="certified" if passed else "not certified",
        error=error,
        profiles=profiles,
        observations=observations,
        support=support_rows(results, cases, observations, facts),
    )


def certify_server(
    output_dir: str | os.PathLike[str],
    http_url: str | None = None,
    grpc_address: str | None = None,
    model: str | Sequence[str] | None = None,
    token: str | None = None,
    *,
    profiles: Iterable[str] = (),
) -> Report:
    """:func:`check_server`, then ``report.json``, ``junit.xml``, ``summary.md`` and the
    server's support table ``support.md`` written into ``output_dir`` (what ``interlock
    certify --server URL --grpc HOST:PORT`` runs)."""
    from interlock_conformance.report import REPORT_FILES, write_file, write_reports

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    for name in (*REPORT_FILES, SUPPORT_FILE):
        # A report left by an earlier run must not pass for this run's.
        (output / name).unlink(missing_ok=True)
    report = check_server(http_url, grpc_address, model=model, token=token, profiles=profiles)
    write_reports(report, output)
    write_file(output / SUPPORT_FILE, support_markdown(report).encode("utf-8"))
    return report
