"""Every capability a component may claim, per kind, in one place (spec: plugins.md PLG-012).

The spec's capability tables are generated from :data:`CAPABILITIES` by
``scripts/generate_capabilities.py`` (a test fails when they are stale), the registry refuses a
plugin whose component claims a name not listed here (PLG-014), ``interlock plugins --json``
lists them, and the conformance suite maps each to the cases that test it.

A vendor may also claim capabilities of its own, outside the standard, named ``x-<vendor>.<what>``
(PLG-015): they are listed and reported, never tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "CAPABILITIES",
    "VENDOR_CAPABILITY",
    "Capability",
    "capabilities_of",
    "capability_table",
    "find_capability",
    "unknown_capabilities",
]

#: A vendor's own capability: ``x-acme.int8-kernels``.
VENDOR_CAPABILITY = re.compile(r"x-[a-z0-9][a-z0-9-]*\.[a-z0-9][a-z0-9._:-]*")


@dataclass(frozen=True)
class Capability:
    """One capability string and what claiming it promises."""

    #: The string a component puts in ``capabilities``; a family such as ``framework:<name>``
    #: is written with its placeholder in angle brackets.
    name: str
    #: What the component promises by claiming it (Markdown, one sentence).
    meaning: str
    #: The spec page whose capability table lists it (``"runtime.md"``).
    spec: str
    #: For a family (``framework:<name>``): what a concrete name must look like.
    pattern: str | None = None
    #: A table label when one spec page has several tables for one kind (``"grpc"``).
    table: str = ""

    def matches(self, claimed: str) -> bool:
        """Whether the claimed string is this capability (or a member of this family)."""
        if self.pattern is None:
            return claimed == self.name
        return re.fullmatch(self.pattern, claimed) is not None


_DATASET = "dataset.md"
_ARTIFACT = "artifact.md"
_EXPORTER = "exporter.md"
_RUNTIME = "runtime.md"
_SERVING = "serving.md"
_BATCH = "batch.md"
_TEXT = "text.md"

#: kind -> the capabilities a component of that kind may claim, in the spec's order.
CAPABILITIES: dict[str, tuple[Capability, ...]] = {
    "dataset_format": (
        Capability("read", "`open()` reads datasets of this format", _DATASET),
        Capability("write", "`write()` writes datasets of this format", _DATASET),
        Capability("append", "`mode='append'` adds part files to an existing directory dataset",
                   _DATASET),
        Capability("projection", "reads only the requested columns from storage", _DATASET),
        Capability("filter", "skips stored data using the filter (statistics) before decoding it",
                   _DATASET),
        Capability("partitioned",
                   "reads hive-partitioned directories (key=value path segments) as columns",
                   _DATASET),
        Capability("shards:row_groups",
                   "`shards(n)` splits a single file at row-group boundaries", _DATASET),
        Capability("types:binary",
                   "binary, large_binary and fixed_size_binary columns round-trip", _DATASET),
        Capability("types:nested",
                   "list, large_list, fixed_size_list, struct and map columns round-trip",
                   _DATASET),
        Capability("types:dictionary", "dictionary-encoded columns round-trip", _DATASET),
        Capability("types:decimal", "decimal128 and decimal256 columns round-trip", _DATASET),
        Capability("types:temporal",
                   "date32, date64, time32, time64, naive timestamp and duration round-trip",
                   _DATASET),
        Capability("types:timestamp_tz",
                   "timezone-aware timestamp columns round-trip, zone included", _DATASET),
        Capability("types:large",
                   "large_string, large_binary and large_list columns round-trip", _DATASET),
        Capability("transactional",
                   "`commit()` writes at the target through the format's own transaction log, "
                   "atomically, instead of a staged write (DS-120..DS-127)", _DATASET),
    ),
    "artifact_store": (
        Capability("atomic-publish",
                   "ART-070 and ART-072 hold, including when the writer is killed", _ARTIFACT),
        Capability("immutable-versions", "ART-071 holds", _ARTIFACT),
        Capability("race-safe-publish",
                   "ART-071 holds between concurrent writers of the same version", _ARTIFACT),
        Capability("digest-refs", "`NAME@sha256:<hex>` resolves (ART-060)", _ARTIFACT),
        Capability("external-data", "artifacts with `model.onnx.data` round-trip", _ARTIFACT),
        Capability("nested-files", "listed files in subdirectories round-trip", _ARTIFACT),
        Capability("read-only",
                   "`publish` always raises `interlock.artifacts.ReadOnlyStoreError` and changes "
                   "nothing (ART-100); `populate` stocks the store for certification (ART-101); "
                   "the cases that publish do not apply", _ARTIFACT),
    ),
    "exporter": (
        Capability("sample:arrow",
                   "accepts a `pyarrow.Table`, `RecordBatch`, `RecordBatchReader`, `Schema`, or "
                   "any object with `__arrow_c_stream__` (an `interlock.Dataset`, a polars "
                   "DataFrame)", _EXPORTER),
        Capability("sample:pandas",
                   "accepts a pandas `DataFrame`, read as Arrow without its index", _EXPORTER),
        Capability("sample:numpy", "accepts a 2-D NumPy array", _EXPORTER),
        Capability("sample:tokenizer",
                   "takes the model's tokenizer as the sample (a `tokenizers.Tokenizer`, a fast "
                   "`transformers` tokenizer, or the path of a `tokenizer.json`) and exports a "
                   "text artifact: a manifest with a `text` section (text.md)", _EXPORTER),
        Capability("float64",
                   "accepts `float_dtype=\"float64\"`: the model computes in float64 where the "
                   "framework's converters allow it", _EXPORTER),
        Capability("framework:<name>",
                   "exports models of the framework `<name>` (`framework:sklearn`: fitted "
                   "scikit-learn estimators and pipelines); the conformance suite exports the "
                   "sample models it builds for each framework it knows to the exporters that "
                   "claim it", _EXPORTER, pattern=r"framework:[a-z0-9][a-z0-9_.-]*"),
    ),
    "runtime": (
        Capability("float16", "runs models with `float16` inputs and outputs (RT-050)", _RUNTIME),
        Capability("string-tensors",
                   "runs models with `string` inputs and outputs (RT-014, RT-020)", _RUNTIME),
        Capability("external-data",
                   "loads artifacts whose `model.onnx` keeps tensors in `model.onnx.data` "
                   "(artifact.md ART-003)", _RUNTIME),
        Capability("int64-range",
                   "computes `int64` tensors over the whole 64-bit range (RT-051); a runtime "
                   "that computes them in 32 bits does not claim it", _RUNTIME),
        Capability("float64-precision",
                   "computes `float64` tensors in 64 bits, so RT-060's `float64` tolerance holds "
                   "(RT-052); a runtime that computes them in 32 bits does not claim it",
                   _RUNTIME),
    ),
    "server": (
        Capability("rest", "the OIP REST endpoints of this page (SRV-050 to SRV-099)", _SERVING,
                   table="rest"),
        Capability("rest.binary-data",
                   "the binary tensor data extension over REST (SRV-080 to SRV-086)", _SERVING,
                   table="rest"),
        Capability("rest.auth", "the optional bearer token over REST (SRV-091)", _SERVING,
                   table="rest"),
        Capability("rest.metrics",
                   "`GET /metrics` in the Prometheus text format (SRV-095 to SRV-097)", _SERVING,
                   table="rest"),
        Capability("grpc",
                   "serves `inference.GRPCInferenceService` with raw tensor contents (SRV-100 to "
                   "SRV-161)", _SERVING, table="grpc"),
        Capability("grpc.typed-contents",
                   "also accepts inputs as typed `InferTensorContents` (SRV-131)", _SERVING,
                   table="grpc"),
        Capability("grpc.auth",
                   "enforces a bearer token given in `ServerOptions.token` (SRV-143, SRV-144)",
                   _SERVING, table="grpc"),
    ),
    "executor": (
        Capability("ordered",
                   "the output rows are in the order the dataset's reader yields them", _BATCH),
        Capability("progress",
                   "`job.progress=True` shows a progress bar counting rows on stderr", _BATCH),
        Capability("resume",
                   "`job.resume=True` skips the shards a killed or failed run of the same job "
                   "completed, and writes what an uninterrupted run writes (BAT-050 to BAT-055)",
                   _BATCH),
        Capability("in_process",
                   "reads `job.dataset` in the caller's process, so any `interlock.Dataset` "
                   "object works, even one that cannot be reopened from its URI (BAT-016)",
                   _BATCH),
    ),
    "text_engine": (
        Capability("sampling",
                   "draws tokens with `temperature`, `top_k` and `top_p` (TXT-032); without it "
                   "an engine decodes greedily only and refuses other requests (TXT-072)", _TEXT),
        Capability("seeded",
                   "the same `seed` gives the same tokens on every run (TXT-032); the tokens "
                   "of a seed are the engine's own, not those of another engine", _TEXT),
    ),
}


def capabilities_of(kind: str) -> tuple[Capability, ...]:
    """The capabilities a component of ``kind`` may claim (KeyError for an unknown kind)."""
    return CAPABILITIES[kind]


def find_capability(kind: str, claimed: str) -> Capability | None:
    """The standard capability that ``claimed`` is (or belongs to), or None."""
    for capability in CAPABILITIES[kind]:
        if capability.matches(claimed):
            return capability
    return None


def unknown_capabilities(kind: str, claimed: frozenset[str] | set[str]) -> list[str]:
    """The claimed strings that are neither standard capabilities of ``kind`` nor vendor ones."""
    return sorted(
        c for c in claimed
        if find_capability(kind, c) is None and VENDOR_CAPABILITY.fullmatch(c) is None
    )


def capability_table() -> dict[str, list[dict[str, str]]]:
    """Every standard capability, JSON-ready: ``{kind: [{"name", "meaning", "spec"}, ...]}``
    (``interlock plugins --json`` prints it under ``"capabilities"``)."""
    return {
        kind: [{"name": c.name, "meaning": c.meaning, "spec": f"specs/v1/{c.spec}"} for c in caps]
        for kind, caps in CAPABILITIES.items()
    }
