"""The plugin system: discovery, lazy loading, control settings, failures and conflicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import interlock
from interlock import hookimpl
from interlock.plugins import KINDS, Registry, plugin_boundary
from interlock_conformance import requirement

REFERENCE_PLUGINS = {
    "interlock_formats",
    "interlock_fsstore",
    "interlock_onnxruntime",
    "interlock_reference",
    "interlock_sklearn",
    "interlock_local",
}


def run_python(code: str, *, env: dict[str, str] | None = None, path: Path | None = None) -> str:
    """Run ``code`` in a fresh interpreter and return its stdout (fails the test on error)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
    full_env.update(env or {})
    if path is not None:
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), full_env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def make_distribution(
    where: Path, *, dist: str, version: str, ep_name: str, module: str, source: str
) -> None:
    """Install a plugin the way pip would: a package plus its own dist-info with entry points."""
    (where / f"{module}.py").write_text(textwrap.dedent(source))
    info = where / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[interlock]\n{ep_name} = {module}\n")


VENDOR_RUNTIME = """
    from interlock import hookimpl, Runtime

    class AcmeRuntime(Runtime):
        name = "acme"
        capabilities = frozenset({"float16", "x-acme.int8-kernels"})
        description = "the Acme accelerator"

        def load(self, artifact, device, options):
            raise NotImplementedError

    @hookimpl
    def interlock_runtimes():
        return [AcmeRuntime()]
"""


@requirement("PLG-005")
def test_import_interlock_loads_nothing_heavy() -> None:
    out = run_python(
        """
        import sys, interlock
        heavy = ("pydantic", "pyarrow", "numpy", "onnx", "pluggy", "fsspec", "interlock_formats")
        print([m for m in sys.modules if m.split(".")[0] in heavy])
        """
    )
    assert out.strip() == "[]"


@requirement("PLG-004")
def test_listing_plugins_reads_metadata_without_importing_them() -> None:
    out = run_python(
        """
        import sys, json, interlock
        infos = interlock.discover_plugins()
        print(json.dumps({
            "names": [i.name for i in infos],
            "dists": sorted({i.distribution for i in infos}),
            "imported": [m for m in sys.modules if m.startswith("interlock_")],
        }))
        """
    )
    found = json.loads(out)
    assert REFERENCE_PLUGINS <= set(found["names"])
    assert found["dists"] == ["interlock"]
    assert found["imported"] == []


def test_reference_plugins_load_and_provide_components() -> None:
    registry = interlock.get_registry()
    statuses = {p.name: p.status for p in registry.plugins}
    assert all(statuses[name] == "loaded" for name in REFERENCE_PLUGINS), statuses
    assert {"parquet", "arrow", "csv", "jsonl"} <= set(registry.names("dataset_format"))
    assert {"onnxruntime", "reference"} <= set(registry.names("runtime"))
    assert "sklearn" in registry.names("exporter")
    assert "local" in registry.names("executor")
    assert registry.names("artifact_store")
    assert registry.conflicts() == []


def test_separately_installed_distribution_is_discovered(tmp_path: Path) -> None:
    make_distribution(
        tmp_path, dist="acme-interlock", version="1.2.3", ep_name="acme", module="acme_plugin",
        source=VENDOR_RUNTIME,
    )
    out = run_python(
        """
        import json, interlock
        registry = interlock.get_registry()
        acme = [p for p in registry.plugins if p.name == "acme"][0]
        print(json.dumps(acme.to_dict()))
        print(registry.get("runtime", "acme").description)
        """,
        path=tmp_path,
    )
    info = json.loads(out.splitlines()[0])
    assert info["distribution"] == "acme-interlock"
    assert info["version"] == "1.2.3"
    assert info["status"] == "loaded"
    assert info["components"][0]["name"] == "acme"
    assert info["components"][0]["capabilities"] == ["float16", "x-acme.int8-kernels"]
    assert out.splitlines()[1] == "the Acme accelerator"


def test_plugin_that_fails_to_import_is_reported_and_others_still_load(tmp_path: Path) -> None:
    make_distribution(
        tmp_path, dist="broken-plugin", version="0.0.1", ep_name="broken", module="broken_plugin",
        source="import this_module_does_not_exist\n",
    )
    out = run_python(
        """
        import json, interlock
        registry = interlock.get_registry()
        broken = [p for p in registry.plugins if p.name == "broken"][0]
        print(json.dumps({"status": broken.status, "error": broken.error, "dist": broken.distribution,
                          "version": broken.version, "runtimes": registry.names("runtime")}))
        """,
        path=tmp_path,
    )
    found = json.loads(out)
    assert found["status"] == "error"
    assert "this_module_does_not_exist" in found["error"]
    assert (found["dist"], found["version"]) == ("broken-plugin", "0.0.1")
    assert "onnxruntime" in found["runtimes"]


def test_unknown_hook_is_rejected_with_a_suggestion() -> None:
    class Misspelled:
        @hookimpl
        def interlock_runtime(self) -> list[object]:  # missing the final "s"
            return []

    registry = Registry(autoload=False)
    with pytest.raises(interlock.PluginError, match=r"interlock_runtime \(did you mean interlock_runtimes\?\)"):
        registry.register(Misspelled(), name="misspelled")
    assert registry.plugins[0].status == "error"


def test_hook_returning_wrong_objects_is_a_spec_violation() -> None:
    class Wrong:
        @hookimpl
        def interlock_runtimes(self) -> list[object]:
            return ["not a runtime"]

    registry = Registry(autoload=False)
    with pytest.raises(interlock.PluginError, match="must return instances of interlock.runtimes.Runtime"):
        registry.register(Wrong(), name="wrong")


def _runtime_claiming(*capabilities: str) -> object:
    class Claiming(interlock.Runtime):
        name = "claiming"

        def load(self, artifact: object, device: str, options: object) -> interlock.Predictor:
            raise NotImplementedError

    Claiming.capabilities = frozenset(capabilities)

    class Plugin:
        @hookimpl
        def interlock_runtimes(self) -> list[object]:
            return [Claiming()]

    return Plugin()


@requirement("PLG-014")
def test_unknown_capability_is_a_load_error_naming_it_and_the_known_ones() -> None:
    registry = Registry(autoload=False)
    with pytest.raises(interlock.PluginError) as info:
        registry.register(_runtime_claiming("float16", "fp8", "string_tensors"), name="typo")
    message = str(info.value)
    assert "claims unknown capabilities 'fp8', 'string_tensors'" in message
    assert "known runtime capabilities are: float16, string-tensors, external-data" in message
    assert info.value.requirement == "PLG-014"
    assert registry.names("runtime") == []  # nothing of the refused plugin is usable


@requirement("PLG-012", "PLG-015")
def test_vendor_capabilities_and_capability_families_are_accepted() -> None:
    registry = Registry(autoload=False)
    registry.register(_runtime_claiming("float16", "x-acme.int8-kernels"), name="vendor")
    assert registry.get("runtime", "claiming").capabilities == {"float16", "x-acme.int8-kernels"}
    for claimed in ("x-acme", "x-.foo", "X-acme.foo"):  # not of the form x-<vendor>.<name>
        with pytest.raises(interlock.PluginError, match="unknown capability"):
            Registry(autoload=False).register(_runtime_claiming(claimed), name="bad")
    from interlock.plugins import find_capability

    assert find_capability("exporter", "framework:xgboost").name == "framework:<name>"
    assert find_capability("exporter", "framework:") is None


@requirement("PLG-012")
def test_capabilities_that_are_not_a_set_of_strings_are_refused() -> None:
    plugin = _runtime_claiming()
    type(plugin.interlock_runtimes()[0]).capabilities = ["float16"]  # type: ignore[attr-defined,misc]
    with pytest.raises(interlock.PluginError, match="capabilities must be a set of strings"):
        Registry(autoload=False).register(plugin, name="listy")


def test_every_kind_has_a_capability_table_and_plugins_json_lists_it() -> None:
    from interlock.plugins import CAPABILITIES, capability_table

    assert set(CAPABILITIES) == set(KINDS)
    table = capability_table()
    assert {c["name"] for c in table["runtime"]} == {
        "float16", "string-tensors", "external-data", "int64-range", "float64-precision"
    }
    done = subprocess.run(
        [sys.executable, "-m", "interlock.cli", "plugins", "--json"],
        capture_output=True, text=True, check=True,
    )
    assert json.loads(done.stdout)["capabilities"] == table


def test_hook_that_raises_is_reported_with_the_hook_name() -> None:
    class Exploding:
        @hookimpl
        def interlock_dataset_formats(self) -> list[object]:
            raise RuntimeError("boom")

    registry = Registry(autoload=False)
    with pytest.raises(interlock.PluginError, match="interlock_dataset_formats failed: RuntimeError: boom"):
        registry.register(Exploding(), name="exploding")


def _runtime_plugin(runtime_name: str, priority: int = 0) -> object:
    class _Runtime(interlock.Runtime):
        name = runtime_name

        def load(self, artifact: object, device: str, options: dict[str, object]) -> interlock.Predictor:
            raise NotImplementedError

    _Runtime.priority = priority

    class _Plugin:
        @hookimpl
        def interlock_runtimes(self) -> list[interlock.Runtime]:
            return [_Runtime()]

    return _Plugin()


@requirement("PLG-020")
def test_same_name_at_same_priority_is_an_error_naming_both() -> None:
    registry = Registry(autoload=False)
    registry.register(_runtime_plugin("fast"), name="vendor-a")
    registry.register(_runtime_plugin("fast"), name="vendor-b")
    with pytest.raises(interlock.PluginError) as caught:
        registry.get("runtime", "fast")
    message = str(caught.value)
    assert "'vendor-a'" in message and "'vendor-b'" in message
    assert "INTERLOCK_PREFER='runtime:fast=<plugin>'" in message
    assert registry.conflicts() == [message]
    assert registry.all("runtime") == []


@requirement("PLG-020", "PLG-021")
def test_prefer_setting_decides_between_rivals(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry(autoload=False)
    registry.register(_runtime_plugin("fast"), name="vendor-a")
    registry.register(_runtime_plugin("fast"), name="vendor-b")
    monkeypatch.setenv("INTERLOCK_PREFER", "runtime:fast=vendor-b")
    chosen = registry.get("runtime", "fast")
    assert registry.owner(chosen) is not None
    assert registry.owner(chosen).name == "vendor-b"  # type: ignore[union-attr]


@requirement("PLG-020", "PLG-022")
def test_vendor_component_overrides_a_reference_one_by_priority() -> None:
    registry = Registry(autoload=False)
    registry.register(_runtime_plugin("onnxruntime", interlock.FALLBACK_PRIORITY), name="reference")
    registry.register(_runtime_plugin("onnxruntime"), name="vendor")
    assert registry.owner(registry.get("runtime", "onnxruntime")).name == "vendor"  # type: ignore[union-attr]


@requirement("PLG-040")
def test_unknown_component_suggests_a_close_name() -> None:
    with pytest.raises(interlock.PluginError, match="did you mean 'onnxruntime'"):
        interlock.get_registry().get("runtime", "onnxrutime")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"INTERLOCK_PLUGINS": "interlock_formats"}, {"interlock_formats": "loaded", "interlock_local": "not allowed"}),
        ({"INTERLOCK_BLOCK_PLUGINS": "interlock_local"}, {"interlock_formats": "loaded", "interlock_local": "blocked"}),
        ({"INTERLOCK_DISABLE_PLUGIN_AUTOLOAD": "1"}, {"interlock_formats": "autoload disabled"}),
        (
            {"INTERLOCK_DISABLE_PLUGIN_AUTOLOAD": "1", "INTERLOCK_PLUGINS": "interlock_local"},
            {"interlock_formats": "autoload disabled", "interlock_local": "loaded"},
        ),
    ],
)
@requirement("PLG-030", "PLG-031", "PLG-032")
def test_control_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    interlock.reset_registry()
    statuses = {p.name: p.status for p in interlock.get_registry().plugins}
    for name, status in expected.items():
        assert statuses[name] == status
    if statuses["interlock_formats"] != "loaded":
        assert interlock.get_registry().names("dataset_format") == []


@requirement("PLG-041")
def test_plugin_exception_is_wrapped_once_naming_plugin_and_component() -> None:
    registry = interlock.get_registry()
    registry.register(_runtime_plugin("flaky"), name="acme")
    runtime = registry.get("runtime", "flaky")
    with pytest.raises(interlock.PluginError) as caught:
        with plugin_boundary(runtime, "loading a model"):
            raise ValueError("device on fire")
    error = caught.value
    assert error.plugin == "acme" and error.component == "flaky"
    assert "'flaky' from 'acme' failed while loading a model: ValueError: device on fire" in str(error)
    assert isinstance(error.__cause__, ValueError)
    # An InterlockError passes through unwrapped, with the culprit filled in.
    with pytest.raises(interlock.SignatureMismatch) as passed:
        with plugin_boundary(runtime, "inferring"):
            raise interlock.SignatureMismatch("bad input")
    assert passed.value.plugin == "acme" and passed.value.component == "flaky"


def test_every_hook_is_specified_documented_and_versioned() -> None:
    from interlock import hookspecs

    spec_text = (Path(__file__).parent.parent / "specs" / "v1" / "plugins.md").read_text()
    hooks = [name for name in hookspecs.__all__ if name.startswith("interlock_")]
    assert sorted(hooks) == sorted(k.hook for k in KINDS.values())
    assert set(hookspecs.__all__) - set(hooks) == {"PROJECT_NAME", "hookimpl", "hookspec"}
    for hook in hooks:
        function = getattr(hookspecs, hook)
        assert function.__doc__ and ".. versionadded::" in function.__doc__, hook
        assert "firstresult" in function.__doc__, hook
        assert f"`{hook}`" in spec_text, f"{hook} is not documented in specs/v1/plugins.md"


@requirement("PLG-042")
def test_missing_dependency_hint_is_the_extra_or_the_vendors_own_command() -> None:
    ours = interlock.MissingDependencyError("onnxruntime", "onnxruntime", purpose="the runtime")
    assert ours.hint == "pip install 'interlock[onnxruntime]'" and ours.extra == "onnxruntime"
    vendor = interlock.MissingDependencyError(
        "acme_npu", purpose="the 'acme' runtime", install="pip install 'acme-interlock[npu]'"
    )
    assert str(vendor) == (
        "the 'acme' runtime needs the Python package 'acme_npu', which is not installed "
        "(hint: pip install 'acme-interlock[npu]')"
    )
    assert vendor.extra is None and vendor.install == "pip install 'acme-interlock[npu]'"
    plain = interlock.MissingDependencyError("tqdm", purpose="a progress bar")
    assert plain.hint == "pip install tqdm"
