"""A dataset format that claims a capability the spec does not define (``types:everything``).

Breaks DS-090 (capabilities come only from the spec's list), which the registry enforces when
the plugin loads (PLG-014: an unknown capability is a load error naming it). Otherwise it is
the reference Arrow IPC format.
"""

from __future__ import annotations

from interlock import DatasetFormat, hookimpl
from interlock_formats.formats import ArrowIpcFormat


class OverclaimingFormat(ArrowIpcFormat):
    name = "overclaims"
    extensions = (".overclaims",)
    priority = 0
    capabilities = ArrowIpcFormat.capabilities | {"types:everything"}
    description = "Arrow IPC claiming an undefined capability (deliberately broken)"


@hookimpl
def interlock_dataset_formats() -> list[DatasetFormat]:
    return [OverclaimingFormat()]
