"""The model repository and served models: sources, lookup, validation, batching, overload."""

from __future__ import annotations

import asyncio
from pathlib import Path

import interlock
import numpy as np
import pytest
from interlock import BatchingOptions, ModelRepository
from serving_models import fixed_batch_model, mlp_model, slow_model, two_outputs_model
from interlock_conformance import requirement


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("repo") / "store")
    interlock.save_artifact(mlp_model(0), root, name="mlp", version="1")
    interlock.save_artifact(mlp_model(1), root, name="mlp", version="2")
    interlock.save_artifact(two_outputs_model(), root, name="two_outputs", version="1")
    interlock.save_artifact(fixed_batch_model(), root, name="fixed", version="1")
    interlock.save_artifact(slow_model(), root, name="slow", version="1")
    return root


def loaded(sources: list[str | interlock.Artifact], **kwargs: object) -> ModelRepository:
    repository = ModelRepository(sources, **kwargs)  # type: ignore[arg-type]
    repository.load()
    return repository


@requirement("SRV-010", "SRV-011", "SRV-012", "SRV-013")
def test_a_store_root_serves_every_version_of_every_artifact(store: str) -> None:
    repository = ModelRepository([store])
    assert not repository.ready
    repository.load()
    assert repository.ready
    served = sorted((m.name, m.version) for m in repository.models())
    assert served == [
        ("fixed", "1"),
        ("mlp", "1"),
        ("mlp", "2"),
        ("slow", "1"),
        ("two_outputs", "1"),
    ]
    newest = repository.get("mlp")
    assert (newest.version, newest.versions) == ("2", ["1", "2"])
    assert repository.get("mlp", "1").version == "1"
    model = repository.get("two_outputs")
    assert (model.platform, model.runtime, model.ready) == ("onnx", "onnxruntime", True)
    assert [s.name for s in model.signature.inputs] == ["a", "b"]


@requirement("SRV-010")
def test_references_directories_and_artifact_objects_are_sources(store: str) -> None:
    artifact = interlock.load_artifact("two_outputs:1", store=store)
    repository = loaded(
        ["mlp:1", artifact.uri, interlock.load_artifact("fixed", store=store)], store=store
    )
    assert sorted((m.name, m.version) for m in repository.models()) == [
        ("fixed", "1"),
        ("mlp", "1"),
        ("two_outputs", "1"),
    ]
    assert repository.get("mlp").versions == ["1"]


@requirement("SRV-011")
def test_the_same_artifact_twice_is_served_once(store: str) -> None:
    repository = loaded(["mlp:1", "mlp:1"], store=store)
    assert len(repository.models()) == 1


@requirement("SRV-011")
def test_two_different_artifacts_with_one_name_and_version_are_refused(
    store: str, tmp_path: Path
) -> None:
    other = str(tmp_path / "other")
    interlock.save_artifact(mlp_model(7), other, name="mlp", version="1")
    repository = ModelRepository([store, other])
    with pytest.raises(interlock.ArtifactError, match="two different artifacts claim 'mlp:1'"):
        repository.load()


@requirement("SRV-012")
def test_lookup_errors_name_what_was_asked_and_what_exists(store: str) -> None:
    repository = loaded(["mlp:1", "mlp:2"], store=store)
    with pytest.raises(
        interlock.ArtifactNotFoundError, match=r"'nope' is not served \(served models: mlp\)"
    ):
        repository.get("nope")
    with pytest.raises(interlock.ArtifactNotFoundError, match=r"no version '9' \(versions: 1, 2\)"):
        repository.get("mlp", "9")


@requirement("SRV-010", "SRV-011")
def test_bad_sources_are_refused_with_the_source_named(tmp_path: Path) -> None:
    with pytest.raises(interlock.ArtifactError, match="needs a list of sources"):
        ModelRepository("just-a-string")
    with pytest.raises(interlock.ArtifactError, match="needs a list of sources"):
        ModelRepository([])
    empty = tmp_path / "empty-store"
    empty.mkdir()
    with pytest.raises(
        interlock.ArtifactNotFoundError, match="neither an artifact directory nor a store"
    ):
        ModelRepository([str(empty)]).load()
    with pytest.raises(interlock.ArtifactNotFoundError, match="'/no/such/place'"):
        ModelRepository(["/no/such/place"]).load()
    with pytest.raises(interlock.ArtifactNotFoundError, match="no artifact named 'ghost'"):
        ModelRepository(["ghost:1"], store=str(empty)).load()


@requirement("SRV-012")
def test_before_loading_lookups_say_not_ready(store: str) -> None:
    repository = ModelRepository([store])
    with pytest.raises(interlock.OverloadedError, match="still loading"):
        repository.get("mlp")


@requirement("SRV-020")
def test_served_model_infer_equals_the_predictor_and_validates(store: str) -> None:
    repository = loaded([store])
    model = repository.get("mlp", "1")
    predictor = interlock.load_predictor(interlock.load_artifact("mlp:1", store=store))
    x = np.random.default_rng(3).standard_normal((5, 64)).astype(np.float32)

    async def main() -> dict[str, np.ndarray]:
        outputs = {}
        for _ in range(6):  # the first calls run in threads, later ones may run inline
            outputs = await model.infer({"x": x})
        with pytest.raises(interlock.SignatureMismatch, match="'x'"):
            await model.infer({"x": x.astype(np.float64)})
        with pytest.raises(interlock.SignatureMismatch, match="unexpected 'z'"):
            await model.infer({"z": x})
        await repository.close()
        return outputs

    np.testing.assert_array_equal(asyncio.run(main())["y"], predictor.infer({"x": x})["y"])


@requirement("SRV-023")
def test_batching_applies_only_to_models_with_a_symbolic_batch_axis(store: str) -> None:
    repository = loaded([store], batching=BatchingOptions(max_batch_size=8, max_batch_delay_ms=20))
    assert repository.get("mlp").batching
    assert not repository.get("fixed").batching
    off = loaded([store])
    assert not off.get("mlp").batching


@requirement("SRV-024", "SRV-025")
def test_batched_infer_merges_concurrent_callers(store: str) -> None:
    repository = loaded([store], batching=BatchingOptions(max_batch_size=32, max_batch_delay_ms=50))
    model = repository.get("mlp", "2")
    sizes: list[int] = []
    model.batch_observers.append(sizes.append)
    predictor = interlock.load_predictor(interlock.load_artifact("mlp:2", store=store))
    xs = [np.random.default_rng(i).standard_normal((1, 64)).astype(np.float32) for i in range(12)]

    async def main() -> list[dict[str, np.ndarray]]:
        results = await asyncio.gather(*(model.infer({"x": x}) for x in xs))
        with pytest.raises(interlock.SignatureMismatch):
            await model.infer({"x": np.zeros((1, 63), dtype=np.float32)})
        await repository.close()
        return list(results)

    for x, out in zip(xs, asyncio.run(main()), strict=True):
        np.testing.assert_allclose(out["y"], predictor.infer({"x": x})["y"], rtol=1e-5, atol=1e-6)
    assert sum(sizes) == 12
    assert max(sizes) > 1


@requirement("SRV-021")
def test_a_model_refuses_requests_beyond_its_queue(store: str) -> None:
    repository = loaded([store], batching=BatchingOptions(max_queue=2))
    model = repository.get("slow")
    x = np.ones((4, 512), dtype=np.float32)

    async def main() -> list[object]:
        results = await asyncio.gather(
            *(model.infer({"x": x}) for _ in range(8)), return_exceptions=True
        )
        await repository.close()
        return list(results)

    results = asyncio.run(main())
    refused = [r for r in results if isinstance(r, interlock.OverloadedError)]
    served = [r for r in results if isinstance(r, dict)]
    assert len(refused) == 6 and len(served) == 2
    assert "2 requests in flight" in str(refused[0])
    np.testing.assert_array_equal(served[0]["y"], x)  # type: ignore[index]


@requirement("SRV-014")
def test_draining_turns_readiness_off_but_keeps_serving(store: str) -> None:
    repository = loaded(["mlp:1"], store=store)
    repository.start_draining()
    assert not repository.ready
    model = repository.get("mlp")
    assert not model.ready and model.loaded
    out = asyncio.run(model.infer({"x": np.zeros((1, 64), dtype=np.float32)}))
    assert out["y"].shape == (1, 10)
