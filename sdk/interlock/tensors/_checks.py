"""Checking tensors against a signature, prepared once per predictor (spec: runtime.md).

The hot path (``check_inputs``/``check_outputs`` on valid tensors) does a handful of identity
and integer comparisons per tensor; everything that explains a failure is computed only when
something is wrong.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from interlock.tensors._dtypes import DTYPES
from interlock.errors import SignatureMismatch, SpecViolation
from interlock.tensors._signature import Signature, TensorSpec

__all__ = [
    "TOLERANCES",
    "SignatureChecks",
    "compare_outputs",
    "describe_array",
    "tolerances_for",
]

_OBJECT = np.dtype(object)
#: The rule a runtime breaks when its outputs do not match the signature (runtime.md).
_OUTPUTS_RULE = "RT-020"

#: How far two conforming runtimes' outputs may differ (spec RT-060): ``(rtol, atol)`` per
#: floating dtype, element ``a`` (candidate) agreeing with ``b`` (reference) when
#: ``|a - b| <= atol + rtol * |b|``, NaN matching NaN. Every other dtype must match exactly.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-2, 1e-3),
    "float32": (1e-4, 1e-5),
    "float64": (1e-9, 1e-12),
}


def tolerances_for(*capabilities: Collection[str]) -> dict[str, tuple[float, float]]:
    """The RT-060 tolerance table that applies between runtimes with these capability sets.

    :data:`TOLERANCES`, except that ``float64`` outputs are compared with the ``float32`` row
    when any of the runtimes does not claim ``float64-precision`` (runtime.md RT-052)::

        tolerances_for(ours.capabilities, reference.capabilities)
    """
    table = dict(TOLERANCES)
    if any("float64-precision" not in claimed for claimed in capabilities):
        table["float64"] = TOLERANCES["float32"]
    return table


def describe_array(value: np.ndarray) -> str:
    """``dtype[d0,d1,...]`` of an array, spelled as signatures spell tensors."""
    dims = ",".join(str(d) for d in value.shape)
    return f"{_dtype_label(value.dtype)}[{dims}]"


def _dtype_label(dtype: np.dtype[Any]) -> str:
    if dtype.kind == "U":
        return "str_"
    if dtype.kind == "S":
        return "bytes_"
    if dtype.kind == "O":
        return "object"
    if not dtype.isnative:
        return f"{dtype.name} (non-native byte order)"
    return str(dtype.name)


class _Rule:
    """What one tensor must look like, precomputed."""

    __slots__ = ("dtype", "fixed", "is_string", "name", "ndim", "spec")

    def __init__(self, spec: TensorSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.is_string = spec.dtype == "string"
        numpy_name = DTYPES[spec.dtype].numpy
        assert numpy_name is not None  # bfloat16 is refused before rules are built
        self.dtype = np.dtype(numpy_name)
        self.ndim = len(spec.shape)
        self.fixed = tuple((axis, d) for axis, d in enumerate(spec.shape) if isinstance(d, int))

    def fast(self) -> tuple[str, np.dtype[Any] | None, int, tuple[tuple[int, int], ...]]:
        # A string tensor never matches the identity test (None), so its elements are always
        # checked on the slow path.
        return (self.name, None if self.is_string else self.dtype, self.ndim, self.fixed)


class SignatureChecks:
    """The input and output checks of one signature, ready for the hot path."""

    def __init__(self, signature: Signature, *, runtime: str, model: str = "") -> None:
        self.runtime = runtime
        self.label = f"model {model!r}" if model else "the model"
        unusable = [s for s in (*signature.inputs, *signature.outputs) if s.dtype == "bfloat16"]
        if unusable:
            raise SignatureMismatch(
                f"{self.label} has bfloat16 tensors ("
                + ", ".join(f"{s.name!r} {s.describe()}" for s in unusable)
                + "), which NumPy cannot hold, so no predictor can feed or return them",
                hint="export the model with float32 (or float16) inputs and outputs and cast "
                "to bfloat16 inside the graph",
            )
        self.inputs = {s.name: _Rule(s) for s in signature.inputs}
        self.outputs = {s.name: _Rule(s) for s in signature.outputs}
        self._groups, ties = _symbol_checks(signature)
        self._input_count, self._output_count = len(self.inputs), len(self.outputs)
        self._fast_inputs = tuple(rule.fast() for rule in self.inputs.values())
        self._fast_outputs = tuple(
            (*rule.fast(), tuple(t[1:] for t in ties if t[0] == name))
            for name, rule in self.outputs.items()
        )

    # -- inputs ----------------------------------------------------------------------------

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Return the inputs to hand to the runtime, or raise :class:`SignatureMismatch`."""
        if type(inputs) is not dict and not isinstance(inputs, Mapping):
            raise SignatureMismatch(
                f"inputs of {self.label} must be a mapping of tensor name to numpy.ndarray, "
                f"received {type(inputs).__name__}",
                hint="pass a dict such as {" + ", ".join(f"{n!r}: array" for n in self.inputs) + "}",
            )
        if len(inputs) != self._input_count:
            raise self._names_error(inputs)
        normalised: dict[str, np.ndarray] | None = None
        ndarray = np.ndarray
        for name, dtype, ndim, fixed in self._fast_inputs:
            try:
                value = inputs[name]
            except KeyError:
                raise self._names_error(inputs) from None
            if type(value) is not ndarray or value.dtype is not dtype or value.ndim != ndim:
                admitted = self._admit_input(self.inputs[name], value)
                if admitted is not value:
                    normalised = normalised or {}
                    normalised[name] = admitted
                value = admitted
            if fixed:
                shape = value.shape
                for axis, size in fixed:
                    if shape[axis] != size:
                        raise self._mismatch(
                            self.inputs[name],
                            value,
                            f"dimension {axis} must be {size}",
                        )
        # A copy, so that the runtime never sees (or changes) the caller's mapping.
        feed = dict(inputs)
        if normalised:
            feed.update(normalised)
        for symbol, first, first_axis, others in self._groups:
            size = feed[first].shape[first_axis]
            for name, axis in others:
                if feed[name].shape[axis] != size:
                    raise SignatureMismatch(
                        f"input {name!r} of {self.label}: dimension {axis} ({symbol!r}) is "
                        f"{feed[name].shape[axis]}, but input {first!r} dimension {first_axis} "
                        f"({symbol!r}) is {size}; received {name} {describe_array(feed[name])}, "
                        f"{first} {describe_array(feed[first])}",
                        hint=f"dimensions named {symbol!r} must have the same size within one call",
                    )
        return feed

    def _admit_input(self, rule: _Rule, value: Any) -> np.ndarray:
        """The slow path: normalise string arrays, or explain why ``value`` is refused."""
        if not isinstance(value, np.ndarray) or isinstance(value, np.ma.MaskedArray):
            kind = "a masked array" if isinstance(value, np.ndarray) else type(value).__name__
            raise SignatureMismatch(
                f"input {rule.name!r} of {self.label}: expected a numpy.ndarray "
                f"{rule.spec.describe()}, received {kind}",
                hint=f"pass numpy.asarray(value, dtype={_numpy_spelling(rule)})"
                if not isinstance(value, np.ma.MaskedArray)
                else "tensors cannot hold missing values: fill them, then pass value.filled(...)",
            )
        if rule.is_string:
            normalised = _normalise_strings(value)
            if normalised is None:
                problem = _string_problem(value)
                hint = None
                if problem:
                    hint = "every element of a string tensor must be a Python str (decode bytes first)"
                raise self._mismatch(rule, value, problem, hint)
            if normalised.ndim != rule.ndim:
                raise self._mismatch(rule, normalised, None)
            return normalised
        if value.dtype != rule.dtype or value.ndim != rule.ndim:
            raise self._mismatch(rule, value, None)
        return value

    def _mismatch(
        self, rule: _Rule, value: np.ndarray, reason: str | None, hint: str | None = None
    ) -> SignatureMismatch:
        return SignatureMismatch(
            f"input {rule.name!r} of {self.label}: expected {rule.spec.describe()}, "
            f"received {describe_array(value)}" + (f" ({reason})" if reason else ""),
            hint=hint or _input_hint(rule, value),
        )

    def _names_error(self, inputs: Mapping[str, Any]) -> SignatureMismatch:
        missing = [n for n in self.inputs if n not in inputs]
        unexpected = [str(n) for n in inputs if n not in self.inputs]
        parts = []
        if missing:
            parts.append(
                "missing "
                + ", ".join(f"{n!r} ({self.inputs[n].spec.describe()})" for n in missing)
            )
        if unexpected:
            described = []
            by_lower = {m.lower(): m for m in missing}
            for name in unexpected:
                close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
                suggestion = f" (did you mean {by_lower[close[0]]!r}?)" if close else ""
                described.append(f"{name!r}{suggestion}")
            parts.append("unexpected " + ", ".join(described))
        takes = ", ".join(f"{n} {r.spec.describe()}" for n, r in self.inputs.items())
        return SignatureMismatch(
            f"inputs of {self.label} do not match its signature: " + "; ".join(parts),
            hint=f"pass exactly these inputs: {takes or 'none'}",
        )

    # -- outputs ---------------------------------------------------------------------------

    def check_outputs(
        self, outputs: dict[str, np.ndarray], feed: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Return the outputs as the caller sees them, or raise :class:`SpecViolation`."""
        if type(outputs) is not dict or len(outputs) != self._output_count:
            raise self._output_names_error(outputs)
        result = outputs
        ndarray = np.ndarray
        for name, dtype, ndim, fixed, ties in self._fast_outputs:
            try:
                value = outputs[name]
            except KeyError:
                raise self._output_names_error(outputs) from None
            if type(value) is not ndarray or value.dtype is not dtype or value.ndim != ndim:
                admitted = self._admit_output(self.outputs[name], value)
                if admitted is not value:
                    if result is outputs:
                        result = dict(outputs)
                    result[name] = admitted
                value = admitted
            shape = value.shape
            for axis, size in fixed:
                if shape[axis] != size:
                    raise self._violation(self.outputs[name], value, f"dimension {axis} must be {size}")
            for axis, from_input, source, source_axis, symbol in ties:
                size = (feed if from_input else result)[source].shape[source_axis]
                if shape[axis] != size:
                    where = "input" if from_input else "output"
                    raise self._violation(
                        self.outputs[name],
                        value,
                        f"dimension {axis} ({symbol!r}) must equal {where} {source!r} dimension "
                        f"{source_axis}, which is {size}",
                    )
        return result

    def _admit_output(self, rule: _Rule, value: Any) -> np.ndarray:
        if not isinstance(value, np.ndarray):
            raise SpecViolation(
                f"runtime {self.runtime!r} returned output {rule.name!r} of {self.label} as "
                f"{type(value).__name__}; the spec requires a numpy.ndarray {rule.spec.describe()}",
                hint="this is a bug in the runtime plugin: report it to its authors",
                component=self.runtime,
            requirement=_OUTPUTS_RULE,
            )
        if rule.is_string:
            normalised = _normalise_strings(value)
            if normalised is None:
                raise self._violation(rule, value, _string_problem(value))
            value = normalised
        elif value.dtype != rule.dtype:
            raise self._violation(rule, value, None)
        if value.ndim != rule.ndim:
            raise self._violation(rule, value, None)
        admitted: np.ndarray = value
        return admitted

    def _violation(self, rule: _Rule, value: np.ndarray, reason: str | None) -> SpecViolation:
        return SpecViolation(
            f"runtime {self.runtime!r} returned output {rule.name!r} of {self.label} as "
            f"{describe_array(value)}, but the signature declares {rule.spec.describe()}"
            + (f" ({reason})" if reason else ""),
            hint="either the runtime plugin is wrong or the model's declared output shape is; "
            "compare with another runtime (load_predictor(..., runtime='reference'))",
            component=self.runtime,
            requirement=_OUTPUTS_RULE,
        )

    def _output_names_error(self, outputs: object) -> SpecViolation:
        if not isinstance(outputs, dict):
            got = f"a {type(outputs).__name__}"
        else:
            got = "outputs " + (", ".join(repr(str(n)) for n in outputs) or "none")
        return SpecViolation(
            f"runtime {self.runtime!r} returned {got} for {self.label}; the spec requires a "
            f"dict of exactly its outputs: {', '.join(repr(n) for n in self.outputs)}",
            hint="this is a bug in the runtime plugin: report it to its authors",
            component=self.runtime,
            requirement=_OUTPUTS_RULE,
        )


def _normalise_strings(value: np.ndarray) -> np.ndarray | None:
    """An object array of ``str`` for a string tensor, or None if ``value`` is not one."""
    if value.dtype.kind == "U":
        converted: np.ndarray = value.astype(object)
        return converted
    if value.dtype == _OBJECT:
        # bytes elements are refused: onnxruntime would silently feed their repr ("b'..'").
        for item in value.flat:
            if type(item) is not str:
                return None
        return value
    return None


def _input_hint(rule: _Rule, value: np.ndarray) -> str:
    """How to fix an input array that does not match its rule."""
    if rule.is_string and value.dtype.kind != "U" and value.dtype != _OBJECT:
        hint = "string tensors take an object array of str or a numpy str_ array"
        if value.dtype.kind == "S":
            hint += "; decode bytes first: value.astype(str)"
        return hint
    if not rule.is_string and value.dtype != rule.dtype:
        if value.dtype.newbyteorder("=") == rule.dtype:
            return "convert to native byte order: value.astype(value.dtype.newbyteorder('='))"
        return (
            f"convert explicitly, e.g. value.astype({_numpy_spelling(rule)}); "
            "interlock never casts silently"
        )
    if value.ndim != rule.ndim:
        hint = f"the tensor has {rule.ndim} dimension(s)"
        if value.ndim + 1 == rule.ndim:
            hint += "; a single example still needs its leading dimension: value[None]"
        return hint
    return "pass an array of the declared shape"


def _string_problem(value: np.ndarray) -> str | None:
    """Why an object array is not a string tensor (its first non-str element)."""
    if value.dtype != _OBJECT:
        return None
    for index, item in enumerate(value.flat):
        if type(item) is not str:
            return f"element {index} (flat order) is {type(item).__name__}, not str"
    return None


def _numpy_spelling(rule: _Rule) -> str:
    return "object" if rule.is_string else f"numpy.{rule.dtype.name}"


_Group = tuple[str, str, int, tuple[tuple[str, int], ...]]
# (output, output's axis, source is an input, source tensor, source axis, symbol)
_Tie = tuple[str, int, bool, str, int, str]


def _symbol_checks(signature: Signature) -> tuple[tuple[_Group, ...], tuple[_Tie, ...]]:
    """Which dimensions share a symbolic name and so must agree.

    Groups: among the inputs, every occurrence of a name after the first must equal the first.
    Ties: every output occurrence must equal the first occurrence of the name (an input one
    if any), which the caller has already checked.
    """
    places: dict[str, list[tuple[bool, str, int]]] = {}
    for is_input, specs in ((True, signature.inputs), (False, signature.outputs)):
        for spec in specs:
            for axis, dim in enumerate(spec.shape):
                if isinstance(dim, str):
                    places.setdefault(dim, []).append((is_input, spec.name, axis))
    groups: list[_Group] = []
    ties: list[_Tie] = []
    for symbol, where in places.items():
        in_inputs = [(name, axis) for is_input, name, axis in where if is_input]
        if len(in_inputs) > 1:
            groups.append((symbol, in_inputs[0][0], in_inputs[0][1], tuple(in_inputs[1:])))
        first_is_input, first, first_axis = where[0]
        for is_input, name, axis in where[1:]:
            if not is_input:
                ties.append((name, axis, first_is_input, first, first_axis, symbol))
    return tuple(groups), tuple(ties)


def compare_outputs(
    reference: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    tolerances: Mapping[str, tuple[float, float]] | None = None,
) -> list[str]:
    """Where ``candidate`` differs from ``reference`` beyond ``tolerances`` (default
    :data:`TOLERANCES`; :func:`tolerances_for` gives the table for two runtimes).

    One line per disagreeing tensor (missing, other dtype or shape, or elements out of
    tolerance, with the first such element); an empty list when the two agree.
    """
    table = TOLERANCES if tolerances is None else tolerances
    problems = []
    for name in sorted(set(reference) | set(candidate), key=str):
        if name not in candidate or name not in reference:
            side = "candidate" if name not in candidate else "reference"
            problems.append(f"{name!r}: missing from the {side} outputs")
            continue
        expected, actual = reference[name], candidate[name]
        if expected.dtype != actual.dtype or expected.shape != actual.shape:
            problems.append(
                f"{name!r}: {describe_array(actual)} where the reference has "
                f"{describe_array(expected)}"
            )
            continue
        tolerance = table.get(expected.dtype.name)
        if tolerance is None:
            bad = np.asarray(expected != actual)
            rule = "exact match"
        else:
            rtol, atol = tolerance
            # Compared in float64 so that float16 differences cannot overflow.
            bad = ~np.isclose(
                actual.astype(np.float64), expected.astype(np.float64), rtol, atol, equal_nan=True
            )
            rule = f"rtol={rtol:g}, atol={atol:g}"
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            problems.append(
                f"{name!r}: {int(bad.sum())} of {bad.size} elements differ beyond {rule}; first "
                f"at {list(first)}: {actual[first]!r} vs reference {expected[first]!r}"
            )
    return problems
