"""The building blocks of the server checker: a check, how it fails, and what it runs against.

A :class:`Check` is one property of an Open Inference Protocol server, tied to the requirement
IDs of ``specs/v1/serving.md`` it verifies. It runs against a :class:`Target` (the server's
address, the models to check, a token, and what the caller knows about the server) and either
returns (passed) or raises:

- :class:`CheckFailure`: the server broke the requirements the check cites, or, when the
  failure names one (``requirement``), that requirement only: one of the check's when it cites
  several, or another found on the way (an inference response whose layout breaks SRV-136, met
  by a check of something else);
- :class:`Blocked`: the check could not run because the server broke another requirement
  first (its model metadata is unusable, say);
- :class:`NotApplicable`: nothing to check (no model has a BYTES input, say).

A failure that names a requirement is that requirement's failure, and the check's other
requirements are "blocked" by it (conformance.md CONF-024 to CONF-026).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from interlock_conformance.attribution import attribute

if TYPE_CHECKING:
    import numpy as np

    from interlock.serving.oip.client import GrpcClient, RestClient

__all__ = [
    "Blocked",
    "Check",
    "CheckFailure",
    "ExpectedModel",
    "Expectations",
    "NotApplicable",
    "Target",
    "check",
    "defined_checks",
]

Protocol = Literal["rest", "grpc"]
Scope = Literal["server", "model"]


class CheckFailure(AssertionError):
    """The server breaks the requirements of the check that raised it, or only
    ``requirement`` when given; says how."""

    def __init__(self, message: str, *, requirement: str | None = None) -> None:
        super().__init__(message)
        self.requirement = requirement
        if requirement:
            # So that a case that meets this failure outside a check reports it the same way.
            attribute(self, requirement)


class Blocked(CheckFailure):
    """The check cannot run because the server broke ``requirements`` (other IDs; the first
    is the root cause) first."""

    def __init__(self, requirements: Sequence[str], message: str) -> None:
        super().__init__(message, requirement=requirements[0] if requirements else None)
        self.requirements = tuple(requirements)


class NotApplicable(Exception):
    """The target offers nothing this check can look at (it is left out of the report)."""


@dataclass(frozen=True)
class ExpectedModel:
    """Known inputs and outputs of one served model, for checks that compare values."""

    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    rtol: float = 0.0
    atol: float = 0.0
    #: The versions the server serves, newest last; None: not known.
    versions: list[str] | None = None


@dataclass(frozen=True)
class Expectations:
    """What the caller knows about the server beyond the protocol (interlock's own suite
    knows it serves ONNX artifacts with golden outputs); None fields are not checked."""

    server_name: str | None = None
    server_version: str | None = None
    #: The model metadata ``platform`` over REST (serving.md SRV-053) and gRPC (SRV-115):
    #: ``onnx_onnxv1`` for interlock's ONNX artifacts.
    rest_platform: str | None = None
    grpc_platform: str | None = None
    models: dict[str, ExpectedModel] = field(default_factory=dict)


@dataclass
class Target:
    """One server under test and what the checks may assume about it."""

    http_url: str | None = None
    grpc_address: str | None = None
    models: list[str] = field(default_factory=list)
    token: str | None = None
    #: Capabilities of serving.md the server claims (``rest``, ``rest.binary-data``, ...).
    claims: frozenset[str] = frozenset()
    expected: Expectations | None = None
    timeout_s: float = 10.0
    _rest: RestClient | None = None
    _grpc: GrpcClient | None = None
    #: Per-protocol caches filled by the protocol modules (model metadata, ...).
    cache: dict[str, Any] = field(default_factory=dict)
    #: What the server chose where the protocol allows several behaviours: (case, requirement,
    #: message), in the order seen.
    observations: list[tuple[str, str, str]] = field(default_factory=list)
    #: The case being run (for observations).
    case: str = ""

    def observe(self, requirement: str, message: str) -> None:
        """Record a behaviour the protocol allows, among others, for the report (never a
        failure)."""
        entry = (self.case, requirement, message)
        if entry not in self.observations:
            self.observations.append(entry)

    @property
    def rest(self) -> RestClient:
        """The REST client (only for checks of a target with an HTTP URL): the serving kit's,
        each request on a connection of its own, so that a server which closes a connection
        after an error cannot confuse the next request."""
        if self._rest is None:
            from interlock.serving.oip.client import RestClient

            if self.http_url is None:
                raise NotApplicable("no HTTP URL was given")
            try:
                self._rest = RestClient(self.http_url, token=self.token, timeout=self.timeout_s,
                                        keep_alive=False)
            except ValueError as exc:
                raise CheckFailure(str(exc)) from None
        return self._rest

    @property
    def grpc(self) -> GrpcClient:
        """The gRPC client (only for checks of a target with a gRPC address): the serving
        kit's."""
        if self._grpc is None:
            from interlock.serving.oip.client import GrpcClient

            if self.grpc_address is None:
                raise NotApplicable("no gRPC address was given")
            self._grpc = GrpcClient(self.grpc_address, token=self.token, timeout=self.timeout_s)
        return self._grpc

    def expected_model(self, model: str) -> ExpectedModel | None:
        """What is known of ``model``'s values, if anything."""
        return self.expected.models.get(model) if self.expected is not None else None

    def close(self) -> None:
        """Close the clients."""
        if self._rest is not None:
            self._rest.close()
            self._rest = None
        if self._grpc is not None:
            self._grpc.close()
            self._grpc = None


CheckFunction = Callable[[Target, str], None]


@dataclass(frozen=True)
class Check:
    """One property of a server, with the requirement IDs it verifies.

    ``scope`` ``"model"`` runs once per model of the target (the function gets its name);
    ``"server"`` runs once (the function gets the first model's name, or ``""``).
    ``needs_expectations``: only where the caller knows golden values (else not applicable).
    ``profile``: the profile of serving.md whose requirements the check judges; ``by_address``:
    a check of the protocol core that only ``check_server`` runs (a plugin certification holds
    a server component to interlock's profile, whose checks are the others).
    """

    protocol: Protocol
    name: str
    requirements: tuple[str, ...]
    capabilities: tuple[str, ...]
    scope: Scope
    function: CheckFunction
    needs_models: bool = True
    needs_expectations: bool = False
    profile: str = "interlock-serving"
    by_address: bool = False

    @property
    def id(self) -> str:
        """``rest::health_live``: the case ID in reports."""
        return f"{self.protocol}::{self.name}"

    @property
    def summary(self) -> str:
        """The first line of the check's docstring."""
        doc = (self.function.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else self.name

    def applies_to(self, target: Target) -> bool:
        """Whether the target has what the check needs to run at all."""
        if self.needs_models and not target.models:
            return False
        if self.needs_expectations and not (
            target.expected is not None and target.expected.models
        ):
            return False
        address = target.http_url if self.protocol == "rest" else target.grpc_address
        return address is not None

    def missing(self, claims: Iterable[str]) -> list[str]:
        """The capabilities the check needs that ``claims`` lacks."""
        claimed = set(claims)
        return [c for c in self.capabilities if c not in claimed]


_CHECKS: list[Check] = []


def check(
    protocol: Protocol,
    *requirements: str,
    capabilities: Sequence[str] = (),
    scope: Scope = "server",
    needs_models: bool = True,
    needs_expectations: bool = False,
    profile: str = "interlock-serving",
) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as a check of ``requirements`` (serving.md IDs) of
    ``profile``; a check of another profile than interlock's runs by address only."""
    if not requirements:
        raise TypeError("a check cites at least one requirement ID")

    def register(function: CheckFunction) -> CheckFunction:
        name = function.__name__.removeprefix("check_")
        _CHECKS.append(
            Check(
                protocol=protocol,
                name=name,
                requirements=tuple(requirements),
                capabilities=(protocol, *capabilities),
                scope=scope,
                function=function,
                needs_models=needs_models,
                needs_expectations=needs_expectations,
                profile=profile,
                by_address=profile != "interlock-serving",
            )
        )
        return function

    return register


def defined_checks() -> list[Check]:
    """The checks the modules imported so far have defined, in definition order (see
    :func:`interlock_conformance.oip.registered_checks` for all of them)."""
    return list(_CHECKS)
