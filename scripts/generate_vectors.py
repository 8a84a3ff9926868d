#!/usr/bin/env python3
"""Generate the golden vectors of the conformance suite into ``specs/v1/vectors``.

Every vendor's plugin is tested against these same bytes (spec: conformance.md):

- ``datasets/*.arrow``: Arrow IPC files with awkward types (nulls everywhere, nested lists and
  structs, dictionaries, large strings, time zones, decimals, zero-row batches, Unicode);
- ``models/<name>/``: tiny ONNX models over every tensor dtype, with known inputs and outputs
  as ``.npy`` (no pickles) or, for strings, JSON;
- ``vectors.json``: the index (what each vector holds, the capabilities it exercises, expected
  values) and ``CHECKSUMS.sha256`` (``sha256sum -c`` format) over every other file.

The vectors are built by the ``golden_vectors`` package beside this script. The output is
deterministic: fixed values and seeds, no timestamps, so running the script twice gives the
same bytes; ``tests/test_vectors.py`` fails when the committed vectors are stale.
Usage: ``python scripts/generate_vectors.py [OUT_DIR]``.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
# The builders are a package beside this script; the tests load the script by its path, so
# scripts/ is not on sys.path unless it was run directly.
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from golden_vectors.datasets import build_datasets  # noqa: E402
from golden_vectors.models import build_models  # noqa: E402

ROOT = SCRIPTS.parent
VECTORS = ROOT / "specs" / "v1" / "vectors"
SPEC = ROOT / "specs" / "v1" / "conformance.md"
INDEX = "vectors.json"
CHECKSUMS = "CHECKSUMS.sha256"



def build() -> dict[str, bytes]:
    """Every vector file, by path relative to the vectors directory."""
    files: dict[str, bytes] = {}
    index = {
        "spec_version": "1",
        "generator": "scripts/generate_vectors.py",
        "datasets": build_datasets(files),
        "models": build_models(files),
    }
    files[INDEX] = (json.dumps(index, ensure_ascii=False, indent=1, allow_nan=False) + "\n").encode(
        "utf-8"
    )
    lines = [
        f"{hashlib.sha256(data).hexdigest()}  {path}\n" for path, data in sorted(files.items())
    ]
    files[CHECKSUMS] = "".join(lines).encode("ascii")
    return files


def checksums_digest(files: dict[str, bytes]) -> str:
    """The sha256 of ``CHECKSUMS.sha256``, which conformance.md records."""
    return hashlib.sha256(files[CHECKSUMS]).hexdigest()


_DIGEST_BLOCK = re.compile(r"(<!-- vectors-digest -->)(.*?)(<!-- /vectors-digest -->)", re.S)


def spec_with_digest(spec_text: str, digest: str) -> str:
    """``conformance.md`` with its vectors digest line set to ``digest``."""
    line = f"\n`CHECKSUMS.sha256` has SHA-256 `{digest}`.\n"
    return _DIGEST_BLOCK.sub(lambda m: m.group(1) + line + m.group(3), spec_text)


def generate(out_dir: Path, spec: Path | None = SPEC) -> dict[str, bytes]:
    """Write every vector into ``out_dir`` (removing files that are no longer generated) and
    record the checksums digest in ``spec``; return the files written."""
    files = build()
    out_dir.mkdir(parents=True, exist_ok=True)
    for existing in sorted(out_dir.rglob("*"), reverse=True):
        relative = existing.relative_to(out_dir).as_posix()
        if existing.is_file() and relative not in files:
            existing.unlink()
        elif existing.is_dir() and not any(existing.iterdir()):
            existing.rmdir()
    for path, data in files.items():
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_bytes() != data:
            target.write_bytes(data)
    if spec is not None and spec.is_file():
        text = spec.read_text(encoding="utf-8")
        updated = spec_with_digest(text, checksums_digest(files))
        if updated != text:
            spec.write_text(updated, encoding="utf-8")
    return files


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else VECTORS
    files = generate(out_dir, SPEC if out_dir == VECTORS else None)
    total = sum(len(data) for data in files.values())
    print(f"wrote {len(files)} files ({total / 1024:.0f} KiB) to {out_dir}")
    print(f"CHECKSUMS.sha256: sha256 {checksums_digest(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
