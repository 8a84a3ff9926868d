"""Plugin discovery, loading and component resolution (spec: plugins.md).

Plugins come from the ``interlock`` entry-point group, the reference plugins included, and are
loaded on first use, never at ``import interlock``. A plugin that fails to import, or that
implements a hook interlock does not know, is recorded with its distribution and version and
left out; the others keep working.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

import pluggy

from interlock import hookspecs
from interlock.hookspecs import PROJECT_NAME
from interlock.errors import InterlockError, PluginError, SpecViolation
from interlock.plugins._capabilities import CAPABILITIES, unknown_capabilities
from interlock.plugins._kinds import KINDS, base_class

__all__ = [
    "ENTRY_POINT_GROUP",
    "ComponentClaim",
    "PluginInfo",
    "Registry",
    "discover_plugins",
    "get_registry",
    "loaded_registry",
    "plugin_boundary",
    "reset_registry",
]

ENTRY_POINT_GROUP = "interlock"

Status = Literal["loaded", "error", "blocked", "not allowed", "autoload disabled", "not loaded"]


@dataclass
class PluginInfo:
    """One plugin as ``interlock plugins`` reports it."""

    name: str
    distribution: str | None
    version: str | None
    module: str
    status: Status = "not loaded"
    error: str | None = None
    components: list[ComponentClaim] = field(default_factory=list)
    #: For a plugin refused for breaking a rule of plugins.md: that rule's ID (``"PLG-003"``
    #: for an unknown hook, ``"PLG-010"``/``"PLG-011"`` for what a hook returned); None
    #: otherwise (it loaded, or it failed to import or crashed in a hook).
    requirement: str | None = None

    @property
    def origin(self) -> str:
        """``name (distribution version)`` for messages."""
        if self.distribution:
            return f"{self.name!r} ({self.distribution} {self.version})"
        return repr(self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "error": self.error,
            "components": [c.to_dict() for c in self.components],
        }


@dataclass
class ComponentClaim:
    """A component and the plugin that provides it."""

    kind: str
    component: Any  # a Component instance, or an ArtifactStore subclass
    plugin: PluginInfo

    @property
    def name(self) -> str:
        return str(self.component.name)

    @property
    def priority(self) -> int:
        return int(self.component.priority)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "capabilities": sorted(self.component.capabilities),
            "priority": self.priority,
            "description": self.component.description,
        }


def _split_env(variable: str) -> list[str]:
    return [item.strip() for item in os.environ.get(variable, "").split(",") if item.strip()]


def _truthy(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on")


def discover_plugins() -> list[PluginInfo]:
    """List the plugins registered in the ``interlock`` entry-point group, without importing
    any of them; ``status`` says whether each would be loaded under the current settings."""
    allow = _split_env("INTERLOCK_PLUGINS")
    block = set(_split_env("INTERLOCK_BLOCK_PLUGINS"))
    autoload = not _truthy("INTERLOCK_DISABLE_PLUGIN_AUTOLOAD")
    infos: dict[str, PluginInfo] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        info = PluginInfo(
            name=ep.name,
            distribution=dist.metadata["Name"] if dist is not None else None,
            version=dist.version if dist is not None else None,
            module=ep.value,
        )
        if ep.name in infos:
            # The same entry-point name from two distributions: keep both visible, load neither.
            other = infos[ep.name]
            message = (
                f"plugin name {ep.name!r} is registered by both {other.distribution} and "
                f"{info.distribution}; uninstall one of them"
            )
            other.status = info.status = "error"
            other.error = info.error = message
            infos[f"{ep.name}#{info.distribution}"] = info
            continue
        if ep.name in block:
            info.status = "blocked"
        elif not autoload and ep.name not in allow:
            info.status = "autoload disabled"
        elif allow and ep.name not in allow:
            info.status = "not allowed"
        infos[ep.name] = info
    return sorted(infos.values(), key=lambda i: i.name)


class Registry:
    """The loaded plugins and the components they provide.

    Most code uses the process-wide registry from :func:`get_registry`; tests and embedders can
    build their own with ``autoload=False`` and :meth:`register`.
    """

    def __init__(self, *, autoload: bool = True) -> None:
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self._claims: dict[str, list[ComponentClaim]] = {kind: [] for kind in KINDS}
        self._owner: dict[int, PluginInfo] = {}
        if autoload:
            self._load_entry_points()

    # -- loading ---------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        eps = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
        for info in discover_plugins():
            if info.status == "not loaded":
                ep = eps[info.name]
                try:
                    plugin = ep.load()
                except Exception as exc:  # any import failure is the plugin's, not ours
                    info.status = "error"
                    info.error = f"failed to import {info.module}: {type(exc).__name__}: {exc}"
                else:
                    self._add(plugin, info)
            self.plugins.append(info)

    def register(self, plugin: object, name: str | None = None) -> PluginInfo:
        """Register a plugin object (module, class or instance) that has hook functions."""
        info = PluginInfo(
            name=name or str(getattr(plugin, "__name__", type(plugin).__name__)),
            distribution=None,
            version=None,
            module=str(getattr(plugin, "__name__", repr(plugin))),
        )
        self._add(plugin, info)
        self.plugins.append(info)
        if info.status == "error":
            raise PluginError(
                f"plugin {info.origin}: {info.error}", plugin=info.name,
                requirement=info.requirement,
            )
        return info

    def _add(self, plugin: object, info: PluginInfo) -> None:
        try:
            self._pm.register(plugin, name=info.name)
        except Exception as exc:
            info.status = "error"
            info.error = f"could not be registered: {exc}"
            return
        unknown = [hc.name for hc in self._pm.get_hookcallers(plugin) or [] if not hc.has_spec()]
        if unknown:
            self._pm.unregister(plugin)
            hints = []
            for hook in unknown:
                close = difflib.get_close_matches(hook, list(_known_hooks()), n=1)
                hints.append(f"{hook} (did you mean {close[0]}?)" if close else hook)
            info.status = "error"
            info.error = "implements unknown hook(s): " + ", ".join(hints)
            info.requirement = "PLG-003"
            return
        claims: list[ComponentClaim] = []
        for kind, spec in KINDS.items():
            for impl in getattr(self._pm.hook, spec.hook).get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                try:
                    result = impl.function()
                    claims.extend(self._check_components(kind, result, info))
                except Exception as exc:
                    info.status = "error"
                    info.error = f"hook {spec.hook} failed: {type(exc).__name__}: {exc}"
                    # Only the registry's own checks of what a hook returned name a rule.
                    info.requirement = exc.requirement if isinstance(exc, SpecViolation) else None
                    self._pm.unregister(plugin)
                    return
        info.status = "loaded"
        info.components = claims
        for claim in claims:
            self._claims[claim.kind].append(claim)
            self._owner[id(claim.component)] = info

    @staticmethod
    def _check_components(kind: str, result: object, info: PluginInfo) -> list[ComponentClaim]:
        spec = KINDS[kind]
        if not isinstance(result, list | tuple):
            raise SpecViolation(
                f"{spec.hook} must return a list, got {type(result).__name__}",
                requirement="PLG-010",
            )
        base = base_class(kind)
        claims = []
        for item in result:
            ok = base is not None and (
                isinstance(item, type) and issubclass(item, base)
                if spec.returns_classes
                else isinstance(item, base)
            )
            if not ok:
                what = "subclasses" if spec.returns_classes else "instances"
                raise SpecViolation(
                    f"{spec.hook} returned {item!r}; it must return {what} of {spec.base_path}",
                    requirement="PLG-010",
                )
            if not isinstance(item.name, str) or not item.name:
                raise SpecViolation(f"{spec.label} {item!r} has no name", requirement="PLG-011")
            _check_capabilities(kind, item)
            claims.append(ComponentClaim(kind, item, info))
        return claims

    # -- resolution ------------------------------------------------------------------------

    def claims(self, kind: str) -> list[ComponentClaim]:
        """Every claim of a kind, conflicting ones included."""
        return list(self._claims[kind])

    def names(self, kind: str) -> list[str]:
        """The distinct component names of a kind, sorted."""
        return sorted({c.name for c in self._claims[kind]})

    def get(self, kind: str, name: str) -> Any:
        """The component of ``kind`` called ``name``, deciding between rival claims.

        The user's ``INTERLOCK_PREFER`` (``kind:name=plugin,...``) decides first; then the
        highest ``priority``; a tie is a :class:`PluginError` naming every rival.
        """
        label = KINDS[kind].label
        rivals = [c for c in self._claims[kind] if c.name == name]
        if not rivals:
            known = self.names(kind)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "run 'interlock plugins' to see what is installed"
            raise PluginError(
                f"no {label} named {name!r} (installed: {', '.join(known) or 'none'})", hint=hint
            )
        return self._decide(kind, name, rivals).component

    def _decide(self, kind: str, key: str, rivals: list[ComponentClaim]) -> ComponentClaim:
        if len(rivals) == 1:
            return rivals[0]
        preferred = _preferences().get(f"{kind}:{key}")
        if preferred is not None:
            chosen = [c for c in rivals if c.plugin.name == preferred]
            if chosen:
                return chosen[0]
        top = max(c.priority for c in rivals)
        best = [c for c in rivals if c.priority == top]
        if len(best) == 1:
            return best[0]
        label = KINDS[kind].label
        names = " and ".join(c.plugin.origin for c in best)
        raise PluginError(
            f"{label} {key!r} is provided by both {names} at the same priority",
            hint=f"choose one with INTERLOCK_PREFER='{kind}:{key}=<plugin>', or block one "
            "with INTERLOCK_BLOCK_PLUGINS",
        )

    def all(self, kind: str) -> list[Any]:
        """Every usable component of a kind (one per name; unresolved conflicts left out)."""
        out = []
        for name in self.names(kind):
            with contextlib.suppress(PluginError):
                out.append(self.get(kind, name))
        return sorted(out, key=lambda c: (-c.priority, c.name))

    def owner(self, component: object) -> PluginInfo | None:
        """The plugin that provided ``component``."""
        return self._owner.get(id(component))

    def conflicts(self) -> list[str]:
        """A message for every component name that cannot be resolved."""
        problems = []
        for kind in KINDS:
            for name in self.names(kind):
                try:
                    self.get(kind, name)
                except PluginError as exc:
                    problems.append(str(exc))
        return problems


def _check_capabilities(kind: str, component: Any) -> None:
    claimed = component.capabilities
    if not isinstance(claimed, frozenset | set) or not all(isinstance(c, str) for c in claimed):
        raise SpecViolation(
            f"{KINDS[kind].label} {component.name!r}: capabilities must be a set of strings, "
            f"got {claimed!r}",
            requirement="PLG-012",
        )
    unknown = unknown_capabilities(kind, claimed)
    if unknown:
        known = ", ".join(c.name for c in CAPABILITIES[kind])
        raise SpecViolation(
            f"{KINDS[kind].label} {component.name!r} claims unknown capabilit"
            f"{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))}; "
            f"the known {KINDS[kind].label} capabilities are: {known} (a vendor's own "
            "capability is named 'x-<vendor>.<name>')",
            requirement="PLG-014",
        )


def _preferences() -> dict[str, str]:
    prefs = {}
    for item in _split_env("INTERLOCK_PREFER"):
        key, _, plugin = item.partition("=")
        if plugin:
            prefs[key.strip()] = plugin.strip()
    return prefs


def _known_hooks() -> Iterator[str]:
    return (spec.hook for spec in KINDS.values())


_registry: Registry | None = None
_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, loaded on first call."""
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                _registry = Registry()
    return _registry


def loaded_registry() -> Registry | None:
    """The process-wide registry if it has been loaded, else None (never loads plugins: for
    code that only wants to attribute something to a plugin already loaded)."""
    return _registry


def reset_registry() -> None:
    """Forget the process-wide registry; the next :func:`get_registry` reloads plugins
    (after changing ``INTERLOCK_*`` settings, for example)."""
    global _registry
    with _lock:
        _registry = None


@contextlib.contextmanager
def plugin_boundary(component: object, action: str) -> Iterator[None]:
    """Wrap, once, what a component raises while the core calls it.

    An :class:`InterlockError` passes through (with plugin and component filled in); anything
    else becomes a :class:`PluginError` that names the plugin, the component and the action.
    """
    try:
        yield
    except InterlockError as exc:
        if exc.component is None:
            exc.component = getattr(component, "name", None)
        if exc.plugin is None and _registry is not None:
            owner = _registry.owner(component)
            exc.plugin = owner.name if owner else None
        raise
    except Exception as exc:
        owner = _registry.owner(component) if _registry is not None else None
        plugin = owner.origin if owner else "an unregistered plugin"
        name = getattr(component, "name", repr(component))
        raise PluginError(
            f"{type(component).__name__} {name!r} from {plugin} failed while {action}: "
            f"{type(exc).__name__}: {exc}",
            plugin=owner.name if owner else None,
            component=str(name),
        ) from exc
