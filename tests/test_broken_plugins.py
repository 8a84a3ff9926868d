"""The conformance suite catches broken plugins (DESIGN.md, "the suite is itself tested").

Each package in ``tests/broken_plugins`` is a small plugin built from a reference component
with exactly one thing broken. Each is installed as its own distribution (a site directory on
``PYTHONPATH`` holding the package and its ``dist-info``) and certified with
``interlock certify`` as a vendor would; the certification must fail exactly the requirements
that thing breaks, for the reason it breaks them, and pass everything else it claims. (The
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


def _breaks(ids: str, because: str) -> Breakage:
    return Breakage(frozenset(ids.split()), because)


EXPECTED: dict[str, Breakage] = {
    # dataset formats
    "broken_nulls": _breaks("DS-071", "read back False, written None"),
    "broken_projection": _breaks("DS-022 DS-091", "differs from the full scan"),
    "broken_fingerprint": _breaks("DS-060 DS-061 DS-062", "does not follow DS-060"),
    "broken_batch_size": _breaks("DS-024", "exceeds batch_size"),
    "broken_write_options": _breaks("DS-045", "DID NOT RAISE"),
    "broken_capabilities": _breaks("DS-090 DS-092", "types:everything"),
    "broken_damaged_files": _breaks("DS-028", "PluginError"),
    "broken_partial_file": _breaks("DS-055 DS-057", ".partial"),
    # artifact stores
    "broken_overwrite": _breaks("ART-071", "ArtifactExistsError"),
    "broken_traversal": _breaks("ART-050 ART-075", "DID NOT RAISE InterlockError"),
    "broken_digest_refs": _breaks("ART-060", "digest"),
    "broken_version_order": _breaks("ART-060 ART-073", "versions('mlp') is ['a', 'b']"),
    "broken_partial_publish": _breaks("ART-072", "versions('mlp') is ['1', '2']"),
    # the plugin as a whole
    "broken_hook_name": _breaks(
        "PLG-001 PLG-002 PLG-003 PLG-007", "unknown hook(s): interlock_dataset_format"
    ),
    "broken_heavy_import": _breaks("PLG-006", "imports numpy, pyarrow"),
    # runtimes: a wrong output fails every case that runs a model through the runtime
    "broken_runtime_dtype": _breaks(
        "RT-020 RT-003 RT-008 RT-010 RT-050 RT-051 RT-060 ART-003 RT-004 RT-006 RT-009 RT-018 "
        "RT-019 RT-030 RT-032 RT-033 RT-034 RT-035 RT-039 RT-040 RT-070 RT-081",
        "as float64[2,3], but the signature declares float32[batch,3]",
    ),
    "broken_runtime_shape": _breaks(
        "RT-020 RT-003 RT-008 RT-010 RT-050 RT-051 RT-060 ART-003 RT-004 RT-006 RT-009 RT-014 "
        "RT-018 RT-019 RT-030 RT-032 RT-033 RT-034 RT-035 RT-039 RT-070 RT-081",
        "as bool[6], but the signature declares bool[batch,3]",
    ),
    "broken_runtime_precision": _breaks(
        "RT-060 RT-003 RT-008 RT-010 RT-020 RT-050 RT-051 ART-003 RT-006 RT-009 RT-070 RT-081",
        "is -inf, expected -3.4028234663852886e+38",
    ),
    "broken_runtime_validation": _breaks(
        "RT-011 RT-012 RT-013 RT-014 RT-015 RT-016", "DID NOT RAISE SignatureMismatch"
    ),
    "broken_runtime_device": _breaks("RT-006 RT-081", "cudaGetDeviceCount failed"),
    # exporters
    "broken_exporter_options": _breaks("EXP-008", "is not a scikit-learn estimator"),
    "broken_exporter_claims": _breaks("EXP-002 EXP-021", "can_export(None) returned True"),
    # executors
    "broken_executor_rows": _breaks("BAT-020", "the rows are out of order"),
    # servers: every protocol check expects its status code, and every output check raw data
    "broken_rest_status": _breaks(
        "SRV-090 SRV-005 SRV-014 SRV-051 SRV-054 SRV-056 SRV-057 SRV-058 SRV-059 SRV-060 "
        "SRV-070 SRV-071 SRV-072 SRV-073 SRV-080 SRV-081 SRV-082 SRV-085 SRV-091 SRV-092 "
        "SRV-093 SRV-094",
        "answered 200, expected 404",
    ),
    "broken_rest_binary": _breaks("SRV-082 SRV-083 SRV-074", "golden_outputs_binary"),
    "broken_grpc_contents": _breaks(
        "SRV-136 SRV-004 SRV-113 SRV-130 SRV-131 SRV-137 SRV-138 SRV-139 SRV-151",
        "0 raw_output_contents entries",
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
    slow = ("broken_rest", "broken_grpc", "broken_exporter")
    names = sorted(EXPECTED, key=lambda name: not name.startswith(slow))
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = pool.map(lambda name: _certify(name, root), names)
        return dict(zip(names, done))


def test_every_broken_plugin_is_certified_here() -> None:
    """No package in tests/broken_plugins goes unchecked, and there are enough of them."""
    packages = sorted(p.name for p in BROKEN_PLUGINS.iterdir() if (p / "__init__.py").is_file())
    assert packages == sorted(EXPECTED)
    assert len(EXPECTED) >= 15


@requirement("CONF-021", "CONF-022", "CONF-023")
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
    # The failing cases cite only what the plugin breaks; everything else it claims passed.
    for case in report.cases:
        if case.outcome == "failed":
            assert set(case.requirements) <= expected.fails, (case.id, case.message)
    assert report.plugin.name == name
    assert report.plugin.distribution == name.replace("_", "-") and report.plugin.version == "0.1"
    if report.plugin.status == "loaded":
        assert report.counts.cases["passed"] > 0
