"""The plugin system: hook markers, the component base, the plugin registry.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "PROJECT_NAME": "_hooks",
    "hookimpl": "_hooks",
    "hookspec": "_hooks",
    "Component": "_component",
    "FALLBACK_PRIORITY": "_component",
    "parse_options": "_component",
    "ComponentKind": "_kinds",
    "Kind": "_kinds",
    "base_class": "_kinds",
    "CAPABILITIES": "_capabilities",
    "VENDOR_CAPABILITY": "_capabilities",
    "Capability": "_capabilities",
    "capabilities_of": "_capabilities",
    "capability_table": "_capabilities",
    "find_capability": "_capabilities",
    "unknown_capabilities": "_capabilities",
    "ENTRY_POINT_GROUP": "_registry",
    "KINDS": "_kinds",
    "ComponentClaim": "_registry",
    "PluginInfo": "_registry",
    "Registry": "_registry",
    "discover_plugins": "_registry",
    "get_registry": "_registry",
    "loaded_registry": "_registry",
    "plugin_boundary": "_registry",
    "reset_registry": "_registry",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.plugins._hooks import (
        PROJECT_NAME as PROJECT_NAME,
        hookimpl as hookimpl,
        hookspec as hookspec,
    )
    from interlock.plugins._capabilities import (
        CAPABILITIES as CAPABILITIES,
        VENDOR_CAPABILITY as VENDOR_CAPABILITY,
        Capability as Capability,
        capabilities_of as capabilities_of,
        capability_table as capability_table,
        find_capability as find_capability,
        unknown_capabilities as unknown_capabilities,
    )
    from interlock.plugins._component import (
        Component as Component,
        FALLBACK_PRIORITY as FALLBACK_PRIORITY,
        parse_options as parse_options,
    )
    from interlock.plugins._kinds import (
        KINDS as KINDS,
        ComponentKind as ComponentKind,
        Kind as Kind,
        base_class as base_class,
    )
    from interlock.plugins._registry import (
        ComponentClaim as ComponentClaim,
        ENTRY_POINT_GROUP as ENTRY_POINT_GROUP,
        PluginInfo as PluginInfo,
        Registry as Registry,
        discover_plugins as discover_plugins,
        get_registry as get_registry,
        loaded_registry as loaded_registry,
        plugin_boundary as plugin_boundary,
        reset_registry as reset_registry,
    )
