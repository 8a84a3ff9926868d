"""What a component does when a library it needs is not installed (runtime.md RT-007, plugins.md
PLG-042), found out in fresh interpreters.

A first run records which top-level modules the plugin's own code (or interlock's, on its
behalf) imports while the component works, beyond the standard library and interlock's own
required dependencies: those are the libraries that can be missing on a user's machine. Then,
for each of them, a run hides that module from every import finder, so that ``import it``
fails exactly as it does where it is not installed (``ModuleNotFoundError``, and
``importlib.util.find_spec`` answers None), and records what the component raised, and when.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any

from interlock.plugins import PluginInfo

__all__ = ["Outcome", "first_party", "missing_dependency_problem", "optional_imports",
           "problems_when_hidden", "run_probe"]

#: The child's frame: finders that record the imports of first-party code, or hide a module.
_HEAD = r'''
import json, sys
spec = json.loads(sys.argv[1])
hidden, first_party = spec["hide"], set(spec["first_party"])
imported = {}

def _top(name):
    return (name or "").partition(".")[0]

def _importer():
    frame = sys._getframe(2)
    while frame is not None and (frame.f_code.co_filename.startswith("<frozen")
                                 or _top(frame.f_globals.get("__name__")) == "importlib"):
        frame = frame.f_back
    return _top(frame.f_globals.get("__name__")) if frame is not None else ""

class _Recorder:
    def find_spec(self, name, path=None, target=None):
        top, importer = _top(name), _importer()
        if importer in first_party and top not in first_party:
            imported.setdefault(top, set()).add(importer)
        return None

class _Hide:
    def __init__(self, inner):
        self.inner = inner
    def find_spec(self, name, path=None, target=None):
        if _top(name) == hidden:
            return None
        find = getattr(self.inner, "find_spec", None)
        return find(name, path, target) if find is not None else None
    def __getattr__(self, attribute):
        return getattr(self.inner, attribute)

if hidden:
    sys.meta_path[:] = [_Hide(finder) for finder in sys.meta_path]
sys.meta_path.insert(0, _Recorder())
stage, error = "load", None
try:
'''

_TAIL = r'''
    stage = None
except BaseException as exc:
    import interlock
    error = {"type": type(exc).__name__,
             "missing_dependency": isinstance(exc, interlock.MissingDependencyError),
             "message": str(exc)[:600], "hint": getattr(exc, "hint", None)}
print("\n" + json.dumps({"stage": stage, "error": error,
                         "imports": {k: sorted(v) for k, v in imported.items()}}))
'''


@dataclass(frozen=True)
class Outcome:
    """One run: where it stopped (None: it ran through) and with what error."""

    stage: str | None
    error: dict[str, Any] | None
    #: Top-level modules first-party code imported, each with the first-party importers.
    imports: dict[str, list[str]]

    def describe(self, action: dict[str, str]) -> str:
        """What happened, in words: ``action`` names each stage (``load`` -> ``load_predictor``)."""
        if self.error is None:
            return "everything succeeded"
        return (f"{action.get(self.stage or '', self.stage)} raised {self.error['type']}: "
                f"{self.error['message']}")


def run_probe(action: str, spec: dict[str, Any], *, hide: str | None,
              plugin: PluginInfo) -> Outcome:
    """Run ``action`` (Python statements that read ``spec`` and set ``stage`` to the name of
    each step as they reach it) in a fresh interpreter, with the module ``hide`` hidden."""
    script = _HEAD + textwrap.indent(textwrap.dedent(action), "    ") + _TAIL
    payload = {**spec, "hide": hide, "first_party": sorted(first_party(plugin))}
    done = subprocess.run([sys.executable, "-c", script, json.dumps(payload)],
                          capture_output=True, text=True, timeout=300, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise AssertionError(f"the probe interpreter (hiding {hide!r}) exited with "
                             f"{done.returncode}: {done.stderr.strip()[-800:]}")
    found = json.loads(lines[-1])
    return Outcome(found["stage"], found["error"], found["imports"])


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(line: str) -> str | None:
    """The distribution a ``Requires-Dist`` line names, None for one behind an extra."""
    if re.search(r"\bextra\s*==", line):
        return None
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
    return _normal(match.group(1)) if match else None


@lru_cache(maxsize=1)
def _required_closure() -> frozenset[str]:
    """interlock and every distribution it requires, directly or not (extras left out)."""
    seen: set[str] = set()
    todo = ["interlock"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            lines = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo.extend(n for n in map(_requirement_name, lines) if n)
    return frozenset(seen)


@lru_cache(maxsize=1)
def _module_distributions() -> dict[str, tuple[str, ...]]:
    return {module: tuple(_normal(d) for d in dists)
            for module, dists in metadata.packages_distributions().items()}


def distributions_of(module: str) -> tuple[str, ...]:
    """The installed distributions that provide the top-level module ``module``."""
    return _module_distributions().get(module, ())


def first_party(plugin: PluginInfo) -> set[str]:
    """The top-level modules of interlock and of the plugin's distribution: their imports are
    the component's own."""
    owners = {"interlock", _normal(plugin.distribution or "")} - {""}
    modules = {"interlock", "interlock_conformance", plugin.module.partition(":")[0].split(".")[0]}
    for dist in metadata.distributions():
        if _normal(dist.metadata["Name"] or "") in owners:
            modules.update(ep.value.partition(":")[0].split(".")[0]
                           for ep in dist.entry_points if ep.group == "interlock")
    modules.update(m for m, dists in _module_distributions().items() if set(dists) & owners)
    return modules


def optional_imports(outcome: Outcome) -> list[str]:
    """The modules of ``outcome``'s imports that interlock's installation does not guarantee:
    not of the standard library nor of a distribution interlock requires."""
    required = _required_closure()
    return sorted(
        m for m in outcome.imports
        if m not in sys.stdlib_module_names and not m.startswith("_")
        and not (distributions_of(m) and set(distributions_of(m)) <= required)
    )


def _extras() -> dict[str, set[str]]:
    """interlock's extras, each with the distributions it installs."""
    extras: dict[str, set[str]] = {}
    for line in metadata.requires("interlock") or []:
        match = re.search(r"""\bextra\s*==\s*["']([^"']+)["']""", line)
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if match and name:
            extras.setdefault(match.group(1), set()).add(_normal(name.group(1)))
    return extras


def missing_dependency_problem(module: str, hidden: Outcome, plain: Outcome, *,
                               plugin: PluginInfo, action: dict[str, str]) -> str | None:
    """Why what ``hidden`` (the run with ``module`` hidden) raised breaks RT-007/PLG-042, or
    None: it raised ``MissingDependencyError`` in its first stage naming the package, with
    an install hint, or ``module`` was not needed (it did what ``plain`` did)."""
    error = hidden.error
    if hidden.stage == plain.stage and (error or {}).get("type") == (plain.error or {}).get(
            "type") and not (error or {}).get("missing_dependency"):
        return None  # the module was not needed: the same outcome as with it
    told = f"with {module!r} not importable (as where it is not installed), "
    first = next(iter(action))
    if error is None or not error["missing_dependency"] or hidden.stage != first:
        return (told + hidden.describe(action) + f"; {action[first]} must raise "
                "interlock.MissingDependencyError naming the package and how to install it")
    names = {_normal(module), *distributions_of(module)}
    text = _normal(error["message"])
    if not any(re.search(rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])", text) for n in names):
        return told + (f"{action[first]} raised MissingDependencyError naming neither "
                       f"{module!r} nor its distribution: {error['message']}")
    hint = error["hint"] or ""
    if not hint.strip():
        return told + f"{action[first]} raised MissingDependencyError with no install hint"
    if _normal(plugin.distribution or "") == "interlock":
        extra = re.fullmatch(r"pip install 'interlock\[([a-z0-9-]+)\]'", hint)
        wanted = sorted(e for e, dists in _extras().items() if names & dists)
        if extra is None or extra.group(1) not in wanted:
            return told + (f"the hint is {hint!r}; interlock's own plugins name the extra "
                           f"that installs it: pip install 'interlock[{'|'.join(wanted)}]'")
    return None


def problems_when_hidden(action: str, spec: dict[str, Any], plain: Outcome, *,
                         plugin: PluginInfo, names: dict[str, str], most: int = 8) -> list[str]:
    """Run ``action`` again with each of (at most ``most`` of) the optional libraries that
    ``plain`` imported hidden in turn; what breaks RT-007/PLG-042, one line each."""
    problems = []
    for module in optional_imports(plain)[:most]:
        hidden = run_probe(action, spec, hide=module, plugin=plugin)
        problem = missing_dependency_problem(module, hidden, plain, plugin=plugin, action=names)
        if problem:
            problems.append(problem)
    return problems
