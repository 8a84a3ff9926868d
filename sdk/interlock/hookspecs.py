"""The interlock hook specifications: what a plugin may implement.

A plugin is any module or object with functions named after these hooks and marked with
:data:`interlock.hookimpl`; it is registered through the ``interlock`` entry-point group::

    [project.entry-points.interlock]
    acme = "acme_interlock.plugin"

Every hook takes no arguments and returns a list of components; interlock collects the lists of
all plugins, attributes each component to the plugin that returned it, and resolves components
by name. A hook must be cheap: import heavy libraries inside component methods, not at module
import or in the hook. None of these hooks is ``firstresult``. All were added in version 0.1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from interlock.artifacts import ArtifactStore
    from interlock.batch import Executor
    from interlock.datasets import DatasetFormat
    from interlock.exporters import Exporter
    from interlock.runtimes import Runtime
    from interlock.servers import Server
    from interlock.text import TextEngine

__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "interlock_artifact_stores",
    "interlock_dataset_formats",
    "interlock_executors",
    "interlock_exporters",
    "interlock_runtimes",
    "interlock_servers",
    "interlock_text_engines",
]

PROJECT_NAME = "interlock"

#: Marks a function in this module as a hook specification.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Marks a plugin function as an implementation of an interlock hook (re-exported as
#: ``interlock.hookimpl`` and ``interlock.plugins.hookimpl``).
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def interlock_dataset_formats() -> list[DatasetFormat]:
    """Return the dataset formats this plugin provides.

    :returns: :class:`interlock.DatasetFormat` instances, each with a unique ``name`` and the
        file ``extensions`` used to infer it from a URI.

    ``firstresult``: no. Spec: ``specs/v1/plugins.md`` and ``specs/v1/dataset.md``.

    .. versionadded:: 0.1
    """
    raise NotImplementedError


@hookspec
def interlock_artifact_stores() -> list[type[ArtifactStore]]:
    """Return the artifact store classes this plugin provides.

    :returns: subclasses of :class:`interlock.ArtifactStore` (classes, not instances: interlock
        instantiates one per root URI), each with a unique ``name`` and the fsspec
        ``protocols`` it serves.

    ``firstresult``: no. Spec: ``specs/v1/artifact.md``.

    .. versionadded:: 0.1
    """
    raise NotImplementedError


@hookspec
def interlock_exporters() -> list[Exporter]:
    """Return the exporters this plugin provides.

    :returns: :class:`interlock.Exporter` instances; :func:`interlock.export` asks each, in
        priority order, whether it ``can_export`` the given model.

    ``firstresult``: no. Spec: ``specs/v1/exporter.md``.

    .. versionadded:: 0.1
    """
    raise NotImplementedError


@hookspec
def interlock_runtimes() -> list[Runtime]:
    """Return the inference runtimes this plugin provides.

    :returns: :class:`interlock.Runtime` instances, each with a unique ``name`` and the
        ``devices`` it supports.

    ``firstresult``: no. Spec: ``specs/v1/runtime.md``.

    .. versionadded:: 0.1
    """
    raise NotImplementedError


@hookspec
def interlock_servers() -> list[Server]:
    """Return the servers this plugin provides.

    :returns: :class:`interlock.Server` instances, each with a unique ``name``.

    ``firstresult``: no. Spec: ``specs/v1/serving.md``.

    .. versionadded:: 0.1
    """
    raise NotImplementedError


@hookspec
def interlock_executors() -> list[Executor]:
    """Return the batch executors this plugin provides.

    :returns: :class:`interlock.Executor` instances, each with a unique ``name``.

    ``firstresult``: no. Spec: ``specs/v1/batch.md``.

    .. versionadded:: 0.1
    """
    raise NotImplementedError


@hookspec
def interlock_text_engines() -> list[TextEngine]:
    """Return the text-generation engines this plugin provides.

    :returns: :class:`interlock.text.TextEngine` instances, each with a unique ``name``.

    ``firstresult``: no. Spec: ``specs/v1/text.md``.

    .. versionadded:: 0.1
    """
    raise NotImplementedError
