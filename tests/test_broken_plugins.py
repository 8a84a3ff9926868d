"""The conformance suite catches broken plugins (DESIGN.md, "the suite is itself tested").

Each package in ``tests/broken_plugins`` is a small plugin built from a reference component
with exactly one thing broken. Each is installed as its own distribution (a site directory on
``PYTHONPATH`` holding the package and its ``dist-info``) and certified with
``interlock certify`` as a vendor would; the certification must fail exactly the requirements
that thing breaks, for the reason it breaks them, and pass everything else it claims or report
it "blocked" by the broken requirement (conformance.md CONF-024, CONF-025): a case that could
not check its own requirements because of the breakage is no evidence against them. (The
reference plugins they are built from are certified clean in test_conformance_framework.py
and test_certify_server.py.)

Certifications run three at a time, each in its own interpreter.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from distributions import BROKEN_PLUGINS, install, run_cli

from interlock_conformance import Report, read_report, requirement


@dataclass(frozen=True)
class Breakage:
    """What certifying one broken plugin must show."""

    #: The requirement IDs that fail, and no others.
    fails: frozenset[str]
    #: A fragment of at least one failure message: the suite caught it for the right reason.
    because: str
    #: Requirements that must read "blocked" (by one of ``fails``): checks the breakage
    #: kept from running. Others may be blocked too; these show that blocking is reported.
    blocks: frozenset[str] = frozenset()


def _breaks(ids: str, because: str, *, blocks: str = "") -> Breakage:
    return Breakage(frozenset(ids.split()), because, frozenset(blocks.split()))


EXPECTED: dict[str, Breakage] = {
    # dataset formats
    "broken_nulls": _breaks("DS-071", "read back False, written None"),
    # DS-091 restates DS-022 for every format, claimed projection or not: one rule, twice.
    "broken_projection": _breaks("DS-022 DS-091", "differs from the full scan"),
    "broken_fingerprint": _breaks("DS-060", "does not follow DS-060", blocks="DS-062"),
    "broken_batch_size": _breaks("DS-024", "exceeds batch_size"),
    "broken_write_options": _breaks("DS-045", "DID NOT RAISE"),
    # A capability the spec does not define is refused when the plugin loads (PLG-014).
    "broken_capabilities": _breaks("PLG-014", "types:everything"),
    "broken_damaged_files": _breaks("DS-005 DS-028", "PluginError"),
    "broken_partial_file": _breaks("DS-041 DS-055", ".partial", blocks="DS-057"),
    "broken_buffering_writer": _breaks("DS-041", "of Arrow memory at peak"),
    "broken_read_only": _breaks("ART-100", "DID NOT RAISE"),
    # artifact stores
    "broken_overwrite": _breaks("ART-071", "ArtifactExistsError"),
    # Refusing an unsafe path (ART-050) is how a store stays inside its root (ART-075): the
    # store that takes '../x' breaks both at once.
    "broken_traversal": _breaks("ART-050 ART-075", "DID NOT RAISE InterlockError"),
    "broken_digest_refs": _breaks("ART-060", "digest"),
    # The core resolves a bare name from versions(), so ART-060 cannot be judged on its own.
    "broken_version_order": _breaks("ART-073", "versions('mlp') is ['a', 'b']"),
    "broken_partial_publish": _breaks("ART-072", "versions('mlp') is ['1', '2']"),
    # the plugin as a whole: refused for an unknown hook, it loads nothing else to check
    "broken_hook_name": _breaks(
        "PLG-003", "unknown hook(s): interlock_dataset_format", blocks="PLG-001 PLG-002 PLG-007"
    ),
    "broken_heavy_import": _breaks("PLG-006", "imports numpy, pyarrow"),
    "broken_private_import": _breaks(
        "PLG-050", "imports the private module interlock.datasets._files"
    ),
    # runtimes: a wrong output is caught by the core (RT-020); every other case that runs a
    # model through the runtime is blocked by it, and only RT-060 compares values
    "broken_runtime_dtype": _breaks(
        "RT-020", "as float64[2,3], but the signature declares float32[batch,3]",
        blocks="RT-003 RT-004 RT-009 RT-030 RT-060 ART-003",
    ),
    "broken_runtime_shape": _breaks(
        "RT-020", "as bool[6], but the signature declares bool[batch,3]",
        blocks="RT-003 RT-014 RT-033 RT-060",
    ),
    "broken_runtime_precision": _breaks("RT-060", "is -inf, expected -3.4028234663852886e+38"),
    # Each input check the predictor skips is a requirement of its own.
    "broken_runtime_validation": _breaks(
        "RT-011 RT-012 RT-013 RT-014 RT-015 RT-016", "DID NOT RAISE SignatureMismatch"
    ),
    "broken_runtime_device": _breaks("RT-006", "cudaGetDeviceCount failed", blocks="RT-081"),
    # With onnxruntime hidden as where it is not installed, load lets the bare import fail.
    "broken_missing_dependency": _breaks(
        "RT-007 PLG-042", "load_predictor raised PluginError"
    ),
    # exporters
    "broken_exporter_options": _breaks("EXP-008", "is not a scikit-learn estimator"),
    "broken_exporter_claims": _breaks(
        "EXP-002", "can_export(None) returned True", blocks="EXP-021"
    ),
    # executors
    "broken_executor_rows": _breaks("BAT-020", "the rows are out of order"),
    "broken_executor_session": _breaks("BAT-047", "still run after the block ended"),
    # text engines
    "broken_text_engine": _breaks("TXT-071", "interlock's own loop"),
    # servers. A server that answers every error 200 breaks each requirement that names the
    # status of an error (SRV-090's table and the 400, 401, 404, 405, 408, 413 and 503 of the
    # others); it honours the limits (SRV-005) and answers no 5xx (SRV-094), which the checks
    # that stopped at the status could not confirm.
    "broken_rest_status": _breaks(
        "SRV-090 SRV-051 SRV-054 SRV-056 SRV-057 SRV-058 SRV-059 SRV-070 SRV-071 SRV-072 "
        "SRV-073 SRV-080 SRV-081 SRV-082 SRV-085 SRV-091 SRV-092 SRV-093",
        "answered 200, expected 404",
        blocks="SRV-005 SRV-094",
    ),
    # Big-endian binary outputs break SRV-083 (outputs in SRV-082's encoding); reading binary
    # inputs (SRV-082) and JSON numbers (SRV-074) cannot be judged against them.
    "broken_rest_binary": _breaks(
        "SRV-083", "golden_outputs_binary", blocks="SRV-074 SRV-082"
    ),
    "broken_grpc_contents": _breaks(
        "SRV-136", "0 raw_output_contents entries",
        blocks="SRV-113 SRV-130 SRV-137 SRV-138 SRV-139 SRV-151",
    ),
}


@dataclass
class Certification:
    """One ``interlock certify`` run."""

    exit_status: int
    output: str
    report: Report | None


def _certify(name: str, root: Path) -> Certification:
    work = root / name
    install(BROKEN_PLUGINS / name, work / "site")
    done = run_cli(["certify", name, "--output", "report"], cwd=work, sites=[work / "site"])
    report_file = work / "report" / "report.json"
    report = read_report(report_file) if report_file.is_file() else None
    return Certification(done.returncode, done.stdout + done.stderr, report)


@pytest.fixture(scope="module")
def certifications(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Certification]:
    """Every broken plugin, certified."""
    root = tmp_path_factory.mktemp("certifications")
    # The slowest first, so that the pool does not end on one long run.
    slow = ("broken_rest", "broken_grpc", "broken_exporter", "broken_executor_session")
    names = sorted(EXPECTED, key=lambda name: not name.startswith(slow))
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = pool.map(lambda name: _certify(name, root), names)
        return dict(zip(names, done))


def test_every_broken_plugin_is_certified_here() -> None:
    """No package in tests/broken_plugins goes unchecked, and there are enough of them."""
    packages = sorted(p.name for p in BROKEN_PLUGINS.iterdir() if (p / "__init__.py").is_file())
    assert packages == sorted(EXPECTED)
    assert len(EXPECTED) >= 15


@requirement("CONF-021", "CONF-022", "CONF-023", "CONF-024", "CONF-025", "CONF-026")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_broken_plugin_fails_exactly_what_it_breaks(
    certifications: dict[str, Certification], name: str
) -> None:
    run = certifications[name]
    assert run.report is not None, f"no report for {name}:\n{run.output[-3000:]}"
    report = run.report
    expected = EXPECTED[name]
    failed = {result.id for result in report.failed()}
    messages = [f"{r.id}: {f.message}" for r in report.failed() for f in r.failures]
    assert failed == expected.fails, (
        f"failed {sorted(failed)}; expected exactly {sorted(expected.fails)}\n"
        + "\n".join(messages)
    )
    assert any(expected.because in message for message in messages), "\n".join(messages)
    assert report.verdict == "not certified" and report.error is None
    assert run.exit_status == 1, run.output[-2000:]
    # Each failing case failed on what the plugin breaks: its root cause, or else every
    # requirement it cites. Everything else the plugin claims passed, or was blocked by it.
    for case in report.cases:
        if case.outcome == "failed":
            blamed = {case.root_cause} if case.root_cause else set(case.requirements)
            assert blamed <= expected.fails, (case.id, case.root_cause, case.message)
    for result in report.blocked():
        assert result.blocked_by and set(result.blocked_by) <= expected.fails, result
    blocked = {result.id for result in report.blocked()}
    assert expected.blocks <= blocked, f"not blocked: {sorted(expected.blocks - blocked)}"
    assert report.plugin.name == name
    assert report.plugin.distribution == name.replace("_", "-") and report.plugin.version == "0.1"
    if report.plugin.status == "loaded":
        assert report.counts.cases["passed"] > 0
