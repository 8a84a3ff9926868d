"""Which requirement a failed case broke (spec: conformance.md CONF-024, CONF-025).

A case stops at its first failure, so a case that cites several requirements usually fails
because of one of them, and often because of a requirement it does not cite at all: a runtime
that returns outputs of the wrong dtype makes every case that runs a model fail. Counting such
a failure against every requirement the case cites would report rules the case never got to
check. Two things say which requirement a failure is about:

- interlock's core, when it catches a component breaking a rule of the spec, raises an
  :class:`interlock.InterlockError` whose ``requirement`` names the rule (``"RT-020"``);
- a case can say which requirement a block of its checks is about, with :func:`checking`::

      with checking("SRV-051"):
          assert status == 503, f"GET /v2/health/ready answered {status} while draining"

:func:`root_cause` finds the innermost of these in an exception's chain. The session records
it on the case, and the case then counts as a failure of that requirement only, and as no
evidence ("blocked") for the others it cites.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar

from interlock import InterlockError

__all__ = ["attribute", "checking", "root_cause"]

#: Where :func:`attribute` records a case's attribution on an exception (an
#: ``AssertionError``, pytest's "DID NOT RAISE", an error a component raised).
_MARK = "__interlock_requirement__"

_Error = TypeVar("_Error", bound=BaseException)


def _named_by(error: BaseException) -> str | None:
    if isinstance(error, InterlockError):
        ident = getattr(error, "requirement", None)
        if isinstance(ident, str) and ident:
            return ident
    mark = getattr(error, _MARK, None)
    return mark if isinstance(mark, str) and mark else None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what it was raised from, as Python prints a traceback: the explicit
    cause, else the implicit context unless ``raise ... from None`` suppressed it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__suppress_context__:
            current = None
        else:
            current = current.__context__


def root_cause(error: BaseException) -> str | None:
    """The requirement ``error`` is attributed to: the innermost exception of its chain that
    names one (an ``InterlockError`` with ``requirement`` set, or one marked by
    :func:`attribute`), or None."""
    found = None
    for link in _chain(error):
        found = _named_by(link) or found
    return found


def attribute(error: _Error, ident: str) -> _Error:
    """Mark ``error`` as a failure of requirement ``ident`` and return it, unless its chain
    already names a requirement (the core's finding is more precise than the case's)."""
    if root_cause(error) is None:
        # Beside, not in, an InterlockError's own ``requirement``: that one is the core's
        # finding. An exception type with __slots__ cannot be marked; it stays unattributed.
        with contextlib.suppress(AttributeError, TypeError):
            setattr(error, _MARK, ident)
    return error


@contextlib.contextmanager
def checking(ident: str) -> Iterator[None]:
    """Attribute any failure inside the block (a failed assertion, a ``pytest.raises`` that
    saw nothing, an error a component raised) to requirement ``ident``; an error that already
    names a requirement keeps it."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # pytest's outcomes ("DID NOT RAISE") are BaseExceptions
        attribute(exc, ident)
        raise
