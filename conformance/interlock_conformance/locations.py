"""Where the suite finds the written standard, the golden vectors and its own cases.

A wheel ships ``specs/`` inside this package (``interlock_conformance/specs``), so that a vendor
who installs interlock from PyPI certifies against the same text and bytes as interlock's own
CI; an editable install (a checkout) reads ``specs/`` at the root of the repository.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SPEC_VERSION", "cases_dir", "specs_dir", "vectors_dir"]

#: The version of the written standard this suite certifies against (``specs/v1``).
SPEC_VERSION = "1"

_PACKAGE = Path(__file__).resolve().parent


def specs_dir() -> Path:
    """The directory holding ``specs/v<SPEC_VERSION>`` (the ``*.md`` files, schemas, vectors)."""
    for candidate in (_PACKAGE / "specs", _PACKAGE.parent.parent / "specs"):
        version_dir = candidate / f"v{SPEC_VERSION}"
        if version_dir.is_dir():
            return version_dir
    from interlock import InterlockError

    raise InterlockError(
        f"the interlock specs (v{SPEC_VERSION}) are missing: looked in {_PACKAGE / 'specs'} "
        f"and {_PACKAGE.parent.parent / 'specs'}",
        hint="reinstall interlock; the wheel ships them inside interlock_conformance/specs",
    )


def vectors_dir() -> Path:
    """The golden vectors shared by every vendor (``specs/v1/vectors``)."""
    return specs_dir() / "vectors"


def cases_dir() -> Path:
    """The packaged conformance cases."""
    return _PACKAGE / "cases"
