"""Cases about the plugin as a whole: it loads, and its hooks return well-formed components
(spec: plugins.md)."""

from __future__ import annotations

import json
import subprocess
import sys

from interlock.plugins import KINDS, PluginInfo, base_class, unknown_capabilities

from interlock_conformance.attribution import attribute
from interlock_conformance.markers import component_kind, requirement

pytestmark = component_kind("plugin")

#: Libraries too heavy to import when interlock merely loads plugins (PLG-006).
HEAVY_MODULES = (
    "pyarrow",
    "numpy",
    "pandas",
    "polars",
    "onnx",
    "onnxruntime",
    "torch",
    "tensorflow",
    "sklearn",
    "grpc",
    "uvicorn",
    "httptools",
    "ray",
)


@requirement("PLG-001", "PLG-002", "PLG-003", "PLG-007")
def test_plugin_loads_from_its_entry_point(plugin_info: PluginInfo) -> None:
    """The entry point imports, its hooks are known and run, and a distribution owns it."""
    if plugin_info.status != "loaded":
        refused = AssertionError(f"plugin {plugin_info.origin} did not load: {plugin_info.error}")
        # Refused for breaking one rule (an unknown hook, PLG-003): that rule's failure.
        raise attribute(refused, plugin_info.requirement) if plugin_info.requirement else refused
    assert plugin_info.distribution, (
        f"plugin {plugin_info.name!r} is not registered by an installed distribution"
    )
    assert plugin_info.components, (
        f"plugin {plugin_info.origin} loaded but its hooks returned no component"
    )


@requirement("PLG-010", "PLG-011", "PLG-012", "PLG-014")
def test_components_have_a_kind_a_name_and_capabilities(plugin_info: PluginInfo) -> None:
    """Every component is of its hook's interface, named, and declares a set of strings,
    each a capability of its kind or a vendor's own ``x-<vendor>.<name>``."""
    for claim in plugin_info.components:
        spec = KINDS[claim.kind]
        component = claim.component
        base = base_class(claim.kind)
        assert base is not None, f"the interface {spec.base_path} was never imported"
        if spec.returns_classes:
            assert isinstance(component, type) and issubclass(component, base), (
                f"{spec.hook} returned {component!r}, not a subclass of {spec.base_path}"
            )
        else:
            assert isinstance(component, base), (
                f"{spec.hook} returned {component!r}, not an instance of {spec.base_path}"
            )
        assert isinstance(component.name, str) and component.name.strip(), (
            f"{spec.label} {component!r} has no name"
        )
        capabilities = component.capabilities
        assert isinstance(capabilities, set | frozenset), (
            f"{spec.label} {component.name!r} declares capabilities as "
            f"{type(capabilities).__name__}; declare a frozenset of strings"
        )
        odd = sorted(repr(c) for c in capabilities if not isinstance(c, str) or not c.strip())
        assert not odd, f"{spec.label} {component.name!r} claims capabilities {', '.join(odd)}"
        unknown = unknown_capabilities(claim.kind, capabilities)
        assert not unknown, (  # the registry refuses these (PLG-014): a second look
            f"{spec.label} {component.name!r} claims {', '.join(map(repr, unknown))}, not "
            f"{spec.label} capabilities of interlock.plugins.CAPABILITIES nor 'x-<vendor>.<name>'"
        )


@requirement("PLG-006")
def test_plugin_module_imports_only_light_modules(plugin_info: PluginInfo) -> None:
    """Importing the plugin's entry-point module in a fresh interpreter pulls in no heavy
    library (NumPy, pyarrow, ONNX, runtimes, frameworks, servers)."""
    module = plugin_info.module.split(":", 1)[0]
    probe = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"heavy = {list(HEAVY_MODULES)!r}\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"importing {module} failed: {done.stderr.strip()[-500:]}"
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert not imported, (
        f"importing the plugin module {module} imports {', '.join(imported)}; import heavy "
        "libraries inside component methods instead"
    )


@requirement("PLG-013")
def test_hooks_are_cheap_and_repeatable(plugin_info: PluginInfo) -> None:
    """In a fresh interpreter, each hook of the plugin answers quickly, twice, with components
    of the same names, and writes nothing into the working directory."""
    import tempfile

    module = plugin_info.module.split(":", 1)[0]
    probe = (
        "import importlib, json, time\n"
        "from interlock.plugins import KINDS\n"
        f"module = importlib.import_module({module!r})\n"
        "report = {}\n"
        "for spec in KINDS.values():\n"
        "    hook = getattr(module, spec.hook, None)\n"
        "    if hook is None:\n"
        "        continue\n"
        "    names = []\n"
        "    started = time.perf_counter()\n"
        "    for _ in range(2):\n"
        "        names.append(sorted(c.name for c in hook()))\n"
        "    report[spec.hook] = [time.perf_counter() - started, names[0] == names[1]]\n"
        "print(json.dumps(report))\n"
    )
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              timeout=120, check=False, cwd=cwd)
        import os

        left = os.listdir(cwd)
    assert done.returncode == 0, f"calling the hooks of {module} failed: {done.stderr[-500:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for hook, (seconds, same) in report.items():
        assert same, f"{hook} returned components of other names the second time"
        assert seconds < 1.0, f"calling {hook} twice took {seconds:.2f} s; keep hooks cheap"
    assert not left, f"calling the hooks wrote {left} into the working directory"
