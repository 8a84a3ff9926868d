"""What every component (format, store, exporter, runtime, server, executor) has in common."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from interlock.errors import InterlockError
from interlock.plugins._kinds import register_base

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["Component", "FALLBACK_PRIORITY", "parse_options"]

#: Priority of interlock's reference components: any vendor component of the same name, at the
#: default priority 0, takes precedence over them without further configuration.
FALLBACK_PRIORITY = -100


class Component:
    """Base of every interlock component.

    Attributes a component declares:

    ``name``
        Unique per kind (two dataset formats cannot both be ``parquet``); what users type.
    ``capabilities``
        The capability strings this component claims, from its kind's table
        (``interlock.plugins.CAPABILITIES``; spec: plugins.md PLG-012). The conformance suite
        tests each claimed capability, and reports the others as not claimed; a name that is
        not in the table (nor a vendor's own ``x-vendor.what``) is refused when the plugin loads.
    ``priority``
        Decides between two components of the same name: the higher wins; a tie is an error
        unless the user chooses with ``INTERLOCK_PREFER``. Reference components use
        :data:`FALLBACK_PRIORITY`.
    ``description``
        One line for ``interlock plugins``.

    The interface of each kind (``Runtime``, ``DatasetFormat``, ...) subclasses this with
    ``kind="runtime"`` and so on; ``kind`` then tells every component which kind it is.
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    priority: ClassVar[int] = 0
    description: ClassVar[str] = ""
    #: The component kind (``"runtime"``), set by the kind's interface class.
    kind: ClassVar[str] = ""

    def __init_subclass__(cls, *, kind: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:
            register_base(kind, cls)
            cls.kind = kind

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def parse_options(
    component: Component,
    model: type[BaseModel] | None,
    options: Mapping[str, Any],
    *,
    error: type[InterlockError] = InterlockError,
    without_options: str = "leave the options out",
) -> Any:
    """Validate a component's user options against its pydantic ``model``.

    Returns the model instance, or None when the component takes no options (``model`` is None)
    and none were given. Raises ``error`` (an :class:`interlock.InterlockError` subclass) that
    names the component and every offending option, with the valid options in the hint;
    ``without_options`` is the hint when options were given to a component that takes none.
    Runtimes, exporters and dataset formats all parse their options through this, so a user
    sees the same message whatever the kind.
    """
    from pydantic import ValidationError

    label = component.kind.replace("_", " ") or "component"
    if model is None:
        if options:
            raise error(
                f"{label} {component.name!r} takes no options, got {sorted(options)}",
                hint=without_options,
                component=component.name,
            )
        return None
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        problems = "; ".join(
            f"unknown option {'.'.join(str(p) for p in err['loc'])!r}"
            if err["type"] == "extra_forbidden"
            else f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}"
            for err in exc.errors()
        )
        valid = ", ".join(sorted(model.model_fields))
        raise error(
            f"invalid options for {label} {component.name!r}: {problems}",
            hint=f"valid options are: {valid or 'none'}",
            component=component.name,
        ) from None
