"""``import_model``: a model registered in MLflow with the ONNX flavor, as a verified interlock
artifact.

Only the model's ``MLmodel`` file is fetched first and read as YAML (no code runs): a model
without the ``onnx`` flavor is refused there, naming its flavors, before any other byte is
downloaded, so a pickled model (``python_function`` with cloudpickle, ``sklearn``,
``pytorch``, ...) is never loaded. An ONNX model is then downloaded into a private temporary
directory and saved with :func:`interlock.save_artifact` (which checks the graph, reads
external data only from that directory, and publishes atomically). The signature comes from
MLflow's tensor signature when the model has one, merged with and checked against the graph;
else from the graph.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlock.errors import ArtifactError, ArtifactNotFoundError, InterlockError

if TYPE_CHECKING:
    from interlock.artifacts import Artifact
    from interlock.tensors import Signature, TensorSpec

__all__ = ["import_model", "parse_model_uri"]

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>[0-9]+)$")
_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: What a flavor stores, for the refusal message: these need unpickling (or code) to load.
_HOW_STORED = {
    "python_function": "a Python model (cloudpickle, or code that runs on load)",
    "sklearn": "a pickled scikit-learn model",
    "pytorch": "a pickled PyTorch model (torch.save)",
    "xgboost": "an XGBoost model with a pickled Python wrapper",
    "lightgbm": "a LightGBM model with a pickled Python wrapper",
    "keras": "a Keras model with Python code",
    "tensorflow": "a TensorFlow model with Python code",
    "transformers": "a Transformers pipeline with Python code",
}
_ADVICE = (
    "log the model with MLflow's ONNX flavor (mlflow.onnx.log_model), or export it with "
    "interlock (interlock.export / 'interlock export') and save that artifact"
)


def parse_model_uri(model_uri: str) -> tuple[str, str]:
    """``models:/NAME/VERSION`` -> (NAME, VERSION); :class:`interlock.ArtifactError` otherwise."""
    match = _MODEL_URI.match(model_uri)
    if match is None:
        raise ArtifactError(
            f"{model_uri!r} is not an MLflow registered model version URI",
            hint="write models:/NAME/VERSION, e.g. models:/churn/3 (VERSION is MLflow's number)",
        )
    return match["name"], match["version"]


def _open_registry(tracking_uri: str) -> Any:
    from interlock_mlflow.registry import open_client

    if tracking_uri.startswith("sqlite:///"):
        database = tracking_uri[len("sqlite:///") :].split("?", 1)[0]
        if not os.path.isfile(database):
            # MLflow would create an empty database there; a typo must not leave one behind.
            raise ArtifactNotFoundError(
                f"no MLflow database at {database!r} (tracking URI {tracking_uri!r})",
                hint="give the tracking URI MLflow logged to, e.g. sqlite:////abs/path/mlflow.db",
            )
    elif not tracking_uri.startswith(("http://", "https://")):
        raise ArtifactError(
            f"{tracking_uri!r} is not a tracking URI interlock imports from",
            hint="use sqlite:///PATH or http(s)://HOST:PORT",
        )
    return open_client(tracking_uri)


def _existing(client: Any, registered: str, tracking_uri: str) -> str:
    """What the registry holds, for a not-found message: the model's versions, or the models."""
    from interlock_mlflow.registry import mlflow_errors

    with mlflow_errors("listing the registry", where=tracking_uri):
        models = sorted(m.name for m in client.search_registered_models(max_results=1000))
        if registered not in models:
            return f"registered models: {', '.join(models[:20]) or 'none'}"
        escaped = registered.replace("'", "\\'")
        found = client.search_model_versions(f"name = '{escaped}'", max_results=1000)
    numbers = sorted(int(v.version) for v in found)
    return f"versions of {registered!r}: {', '.join(map(str, numbers)) or 'none'}"


def _fetch(uri: str, destination: Path, tracking_uri: str) -> Path:
    import mlflow.artifacts

    from interlock_mlflow.registry import mlflow_errors

    with mlflow_errors(f"downloading {uri}", where=tracking_uri):
        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=str(destination), tracking_uri=tracking_uri
            )
        )


def _refuse_unless_onnx(mlmodel: dict[str, Any], model_uri: str) -> str:
    """The ONNX file's name inside the model directory; refuses every other flavor."""
    flavors = mlmodel.get("flavors") if isinstance(mlmodel, dict) else None
    if not isinstance(flavors, dict) or not flavors:
        raise ArtifactError(
            f"{model_uri}'s MLmodel file declares no flavors", hint="log the model with MLflow"
        )
    onnx_flavor = flavors.get("onnx")
    if not isinstance(onnx_flavor, dict):
        described = []
        for flavor, config in flavors.items():
            how = _HOW_STORED.get(str(flavor), "a format interlock cannot read")
            loader = config.get("loader_module") if isinstance(config, dict) else None
            described.append(f"{flavor} ({how}{f', loaded by {loader}' if loader else ''})")
        raise ArtifactError(
            f"{model_uri} is logged without the onnx flavor, as {'; '.join(described)}; "
            "loading it would unpickle or run its code, which interlock never does, so it was "
            "not loaded",
            hint=_ADVICE,
        )
    data = onnx_flavor.get("data", "model.onnx")
    if not isinstance(data, str) or not data.endswith(".onnx") or "/" in data or data in ("..",):
        raise ArtifactError(f"{model_uri}'s onnx flavor names no .onnx file ({data!r})")
    return data


def _tensor_specs(text: Any, graph: list[TensorSpec], kind: str, model_uri: str) -> list[Any]:
    """MLflow's tensor specs of one side, merged into the graph's (names and symbolic
    dimensions from the graph where MLflow has none); ``None`` for a column signature."""
    from interlock.tensors import DTYPES, TensorSpec

    specs = json.loads(text) if isinstance(text, str) else None
    if not isinstance(specs, list) or not all(
        isinstance(s, dict) and s.get("type") == "tensor" for s in specs
    ):
        return []  # no tensor signature on this side (a column-based one): the graph's
    if len(specs) != len(graph):
        raise ArtifactError(
            f"MLflow's signature of {model_uri} has {len(specs)} {kind}s, its ONNX graph "
            f"{len(graph)} ({[s.name for s in graph]})",
            hint="log the model with a signature that matches the graph, or without one",
        )
    by_numpy = {info.numpy: name for name, info in DTYPES.items() if info.numpy}
    by_numpy["str"] = by_numpy["object"]
    merged = []
    for position, spec in enumerate(specs):
        tensor = spec.get("tensor-spec") or {}
        name = spec.get("name") or graph[position].name
        truth = next((g for g in graph if g.name == name), None)
        dtype = by_numpy.get(str(tensor.get("dtype")), str(tensor.get("dtype")))
        shape = [None if d == -1 else d for d in tensor.get("shape") or []]
        if truth is not None and len(shape) == len(truth.shape):
            shape = [t if d is None else d for d, t in zip(shape, truth.shape, strict=True)]
        merged.append(TensorSpec.model_validate({"name": name, "dtype": dtype, "shape": shape}))
    return merged


def _signature(mlmodel: dict[str, Any], model_file: Path, model_uri: str) -> Signature | None:
    import onnx

    from interlock.tensors import Signature

    declared = mlmodel.get("signature")
    if not isinstance(declared, dict):
        return None
    try:
        proto = onnx.load(str(model_file), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others for a file that is not ONNX
        raise ArtifactError(
            f"{model_uri}'s {model_file.name} is not an ONNX model: {exc}"
        ) from None
    graph = Signature.from_onnx(proto)
    try:
        inputs = _tensor_specs(declared.get("inputs"), graph.inputs, "input", model_uri)
        outputs = _tensor_specs(declared.get("outputs"), graph.outputs, "output", model_uri)
        if not inputs and not outputs:
            return None
        return Signature(inputs=inputs or graph.inputs, outputs=outputs or graph.outputs)
    except ArtifactError:
        raise
    except (ValueError, TypeError, AttributeError) as exc:
        from pydantic import ValidationError

        from interlock.errors import describe_validation_error

        first = (
            describe_validation_error(exc)
            if isinstance(exc, ValidationError)
            else str(exc).splitlines()[0]
        )
        raise ArtifactError(
            f"MLflow's signature of {model_uri} cannot be read: {first}",
            hint="log the model with a tensor signature that matches the graph, or without one",
        ) from None


def _lookup(client: Any, registered: str, number: str, tracking_uri: str) -> tuple[Any, str]:
    """The registry's model version and where its files are; not found lists what exists."""
    from interlock_mlflow.registry import mlflow_errors

    model_uri = f"models:/{registered}/{number}"
    try:
        with mlflow_errors(f"looking up {model_uri}", where=tracking_uri):
            found = client.get_model_version(registered, number)
            location = str(client.get_model_version_download_uri(registered, number))
    except ArtifactNotFoundError as exc:
        raise ArtifactNotFoundError(
            f"{exc.message} ({_existing(client, registered, tracking_uri)})", hint=exc.hint
        ) from None
    return found, location


def _read_mlmodel(location: str, scratch: Path, tracking_uri: str, model_uri: str) -> Any:
    """The model's ``MLmodel`` file, fetched alone and parsed as plain YAML data."""
    import yaml

    mlmodel_file = _fetch(f"{location.rstrip('/')}/MLmodel", scratch / "meta", tracking_uri)
    try:
        return yaml.safe_load(mlmodel_file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{model_uri}'s MLmodel file is not YAML: {exc}") from None


def _save(model_file: Path, store: Any, model_uri: str, mlmodel: dict[str, Any],
          **fields: Any) -> Artifact:
    import interlock

    signature = _signature(mlmodel, model_file, model_uri)
    fields["metadata"]["mlflow"]["signature"] = "mlflow" if signature is not None else "graph"
    try:
        return interlock.save_artifact(
            model_file,
            store,
            signature=signature,
            producer=interlock.Producer(
                name="interlock-mlflow", version=interlock.__version__, component="import"
            ),
            **fields,
        )
    except InterlockError as exc:
        if signature is not None and "the signature" in exc.message:
            raise ArtifactError(
                f"MLflow's signature of {model_uri} disagrees with its ONNX graph: "
                f"{exc.message}",
                hint="log the model with a signature that matches the graph, or without one",
            ) from None
        raise


def import_model(
    model_uri: str,
    *,
    tracking_uri: str,
    store: Any = None,
    name: str | None = None,
    version: str | None = None,
) -> Artifact:
    """Save the MLflow model version ``models:/NAME/VERSION`` (logged with the ONNX flavor) as
    the interlock artifact ``name:version`` in ``store`` (a root URI, an ArtifactStore, or
    ``None`` for the default store), verified, and return it.

    ``name`` and ``version`` default to the registered model's name and MLflow's version
    number. Raises :class:`interlock.ArtifactError` for a model that would need unpickling
    (naming its flavors; nothing of it is loaded), a bad URI, or an unreachable tracking
    server, and :class:`interlock.ArtifactNotFoundError` for an unknown model or version;
    nothing is saved then.
    """
    registered, number = parse_model_uri(model_uri)
    name, version = name or registered, version or number
    for kind, value, option in (("name", name, "name"), ("version", version, "version")):
        if not _VALID.match(value):
            raise ArtifactError(
                f"{value!r} is not a valid interlock artifact {kind}",
                hint=f"give one with {option}= (1-128 letters, digits, '.', '_' or '-')",
            )
    client = _open_registry(tracking_uri)
    found, location = _lookup(client, registered, number, tracking_uri)
    with tempfile.TemporaryDirectory(prefix="interlock-mlflow-import-") as scratch:
        mlmodel = _read_mlmodel(location, Path(scratch), tracking_uri, model_uri)
        model_name = _refuse_unless_onnx(mlmodel, model_uri)
        directory = _fetch(location, Path(scratch) / "model", tracking_uri)
        model_file = directory / model_name
        if not model_file.is_file():
            raise ArtifactError(f"{model_uri} has no {model_name} in its artifacts")
        metadata = {
            "mlflow": {
                "model_uri": model_uri,
                "run_id": found.run_id,
                "source": str(found.source),
                "mlflow_version": str(mlmodel.get("mlflow_version", "")),
            }
        }
        return _save(model_file, store, model_uri, mlmodel, name=name, version=version,
                     metadata=metadata)
