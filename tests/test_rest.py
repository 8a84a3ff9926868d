"""The REST server with real clients: health, metadata, inference over JSON and binary data."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import interlock
import numpy as np
import pytest
import tritonclient.http as triton
from interlock.serving.oip.datatypes import OIP_BY_DTYPE
from serving_models import SAMPLES, build_store
from interlock_conformance import requirement


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_store(tmp_path_factory.mktemp("rest") / "store")


@pytest.fixture(scope="module")
def server(store: str) -> Iterator[interlock.RunningServer]:
    running = interlock.serve([store], servers={"rest": 0}, block=False)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: interlock.RunningServer) -> Iterator[triton.InferenceServerClient]:
    c = triton.InferenceServerClient(server.address("rest"))
    yield c
    c.close()


def request(
    server: interlock.RunningServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(server.address("rest"), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def predictor(store: str, ref: str) -> interlock.Predictor:
    return interlock.load_predictor(interlock.load_artifact(ref, store=store))


# -- health and metadata ------------------------------------------------------------------


def test_health_endpoints(
    server: interlock.RunningServer, client: triton.InferenceServerClient
) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert request(server, "GET", "/v2/health/live")[::2] == (200, b'{"live":true}')
    assert request(server, "GET", "/v2/health/ready")[::2] == (200, b'{"ready":true}')
    assert client.is_model_ready("mlp") and client.is_model_ready("mlp", "1")
    status, _, body = request(server, "GET", "/v2/models/mlp/versions/2/ready")
    assert (status, json.loads(body)) == (200, {"name": "mlp", "ready": True})


def test_server_metadata(client: triton.InferenceServerClient) -> None:
    metadata = client.get_server_metadata()
    assert metadata["name"] == "interlock"
    assert metadata["version"] == interlock.__version__
    assert "binary_tensor_data" in metadata["extensions"]


def test_model_metadata(client: triton.InferenceServerClient) -> None:
    expected = {
        "name": "mlp",
        "versions": ["1", "2"],
        "platform": "onnx_onnxv1",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 64]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 10]}],
    }
    assert client.get_model_metadata("mlp") == expected
    assert client.get_model_metadata("mlp", "1") == expected
    fixed = client.get_model_metadata("fixed")
    assert fixed["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [2, 3]}]
    text = client.get_model_metadata("exclaim")
    assert text["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]


# -- inference ------------------------------------------------------------------------------


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("version", ["1", "2", ""])
def test_mlp_results_equal_the_in_process_predictor(
    store: str, client: triton.InferenceServerClient, binary: bool, version: str
) -> None:
    x = np.random.default_rng(11).standard_normal((7, 64)).astype(np.float32)
    tensor = triton.InferInput("x", [7, 64], "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    result = client.infer(
        "mlp",
        [tensor],
        model_version=version,
        outputs=[triton.InferRequestedOutput("y", binary_data=binary)],
        request_id="req-7",
    )
    expected = predictor(store, f"mlp:{version or '2'}").infer({"x": x})["y"]
    out = result.as_numpy("y")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    response = result.get_response()
    assert response["id"] == "req-7"
    assert (response["model_name"], response["model_version"]) == ("mlp", version or "2")


@pytest.mark.parametrize("dtype", list(SAMPLES))
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@requirement("SRV-086")
def test_every_datatype_round_trips(
    client: triton.InferenceServerClient, dtype: str, binary: bool
) -> None:
    _, sample = SAMPLES[dtype]
    tensor = triton.InferInput("x", list(sample.shape), OIP_BY_DTYPE[dtype])
    tensor.set_data_from_numpy(sample, binary_data=binary)
    result = client.infer(
        f"identity_{dtype}",
        [tensor],
        outputs=[triton.InferRequestedOutput("y", binary_data=binary)],
    )
    out = result.as_numpy("y")
    assert out.shape == sample.shape
    if dtype == "string":
        decoded = [[v.decode() if isinstance(v, bytes) else v for v in row] for row in out.tolist()]
        assert decoded == sample.tolist()
    else:
        assert out.dtype == sample.dtype
        np.testing.assert_array_equal(out, sample)


@requirement("SRV-086")
def test_default_binary_mode_returns_every_output_as_binary(
    server: interlock.RunningServer, client: triton.InferenceServerClient
) -> None:
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    b = np.full((2, 4), 3, dtype=np.float32)
    inputs = []
    for name, value in (("a", a), ("b", b)):
        tensor = triton.InferInput(name, [2, 4], "FP32")
        tensor.set_data_from_numpy(value)  # binary by default
        inputs.append(tensor)
    result = client.infer("two_outputs", inputs)  # no outputs: binary_data_output is set
    np.testing.assert_array_equal(result.as_numpy("sum"), a + b)
    np.testing.assert_array_equal(result.as_numpy("product"), a * b)
    for output in result.get_response()["outputs"]:
        assert output["parameters"]["binary_data_size"] == 32
        assert "data" not in output


def test_outputs_select_and_mix_binary_and_json(client: triton.InferenceServerClient) -> None:
    a = np.arange(4, dtype=np.float32).reshape(1, 4)
    inputs = []
    for name in ("a", "b"):
        tensor = triton.InferInput(name, [1, 4], "FP32")
        tensor.set_data_from_numpy(a, binary_data=False)
        inputs.append(tensor)
    only = client.infer(
        "two_outputs", inputs, outputs=[triton.InferRequestedOutput("product", binary_data=False)]
    )
    response = only.get_response()
    assert [o["name"] for o in response["outputs"]] == ["product"]
    assert response["outputs"][0]["data"] == [0.0, 1.0, 4.0, 9.0]
    mixed = client.infer(
        "two_outputs",
        inputs,
        outputs=[
            triton.InferRequestedOutput("sum", binary_data=True),
            triton.InferRequestedOutput("product", binary_data=False),
        ],
    )
    np.testing.assert_array_equal(mixed.as_numpy("sum"), a + a)
    np.testing.assert_array_equal(mixed.as_numpy("product"), a * a)


def test_string_model(store: str, client: triton.InferenceServerClient) -> None:
    text = np.array(["hi", "", "ünïcode ✓"], dtype=object)
    for binary in (True, False):
        tensor = triton.InferInput("text", [3], "BYTES")
        tensor.set_data_from_numpy(text, binary_data=binary)
        result = client.infer(
            "exclaim", [tensor], outputs=[triton.InferRequestedOutput("loud", binary_data=binary)]
        )
        assert [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("loud")] == [
            "hi!",
            "!",
            "ünïcode ✓!",
        ]


def test_raw_json_without_content_type_flat_and_nested(
    server: interlock.RunningServer, store: str
) -> None:
    x = np.random.default_rng(5).standard_normal((2, 64)).astype(np.float32)
    expected = predictor(store, "mlp:2").infer({"x": x})["y"]
    for data in (x.reshape(-1).tolist(), x.tolist()):
        body = json.dumps(
            {
                "id": "n1",
                "parameters": {"custom": "kept"},
                "inputs": [{"name": "x", "shape": [2, 64], "datatype": "FP32", "data": data}],
            }
        ).encode()
        status, headers, raw = request(server, "POST", "/v2/models/mlp/infer", body)
        assert status == 200, raw
        assert headers["content-type"] == "application/json"
        response = json.loads(raw)
        assert response["id"] == "n1"
        (output,) = response["outputs"]
        assert (output["name"], output["datatype"], output["shape"]) == ("y", "FP32", [2, 10])
        np.testing.assert_array_equal(
            np.array(output["data"], dtype=np.float32).reshape(2, 10), expected
        )


def test_binary_response_layout(server: interlock.RunningServer) -> None:
    payload = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int16)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [2, 3],
                    "datatype": "INT16",
                    "parameters": {"binary_data_size": 12},
                }
            ],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
        }
    ).encode()
    status, headers, raw = request(
        server,
        "POST",
        "/v2/models/identity_int16/infer",
        header + payload.tobytes(),
        {
            "Inference-Header-Content-Length": str(len(header)),
            "Content-Type": "application/octet-stream",
        },
    )
    assert status == 200, raw
    assert headers["content-type"] == "application/octet-stream"
    json_length = int(headers["inference-header-content-length"])
    response = json.loads(raw[:json_length])
    assert response["outputs"] == [
        {"name": "y", "datatype": "INT16", "shape": [2, 3], "parameters": {"binary_data_size": 12}}
    ]
    np.testing.assert_array_equal(
        np.frombuffer(raw[json_length:], dtype="<i2").reshape(2, 3), payload
    )


def test_binary_bytes_tensor_is_length_prefixed(server: interlock.RunningServer) -> None:
    elements = ["ab", "", "é"]
    blob = b"".join(len(e.encode()).to_bytes(4, "little") + e.encode() for e in elements)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "text",
                    "shape": [3],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(blob)},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    status, headers, raw = request(
        server,
        "POST",
        "/v2/models/exclaim/infer",
        header + blob,
        {"Inference-Header-Content-Length": str(len(header))},
    )
    assert status == 200, raw
    json_length = int(headers["inference-header-content-length"])
    expected = b"".join(
        len(e.encode()).to_bytes(4, "little") + e.encode() for e in ["ab!", "!", "é!"]
    )
    assert raw[json_length:] == expected
    assert json.loads(raw[:json_length])["outputs"][0]["parameters"]["binary_data_size"] == len(
        expected
    )


def test_gzip_request_bodies_are_accepted(store: str, client: triton.InferenceServerClient) -> None:
    x = np.ones((1, 64), dtype=np.float32)
    tensor = triton.InferInput("x", [1, 64], "FP32")
    tensor.set_data_from_numpy(x)
    for algorithm in ("gzip", "deflate"):
        result = client.infer("mlp", [tensor], request_compression_algorithm=algorithm)
        np.testing.assert_array_equal(
            result.as_numpy("y"), predictor(store, "mlp:2").infer({"x": x})["y"]
        )


@requirement("SRV-095")
def test_metrics_count_requests_and_batches(
    server: interlock.RunningServer, client: triton.InferenceServerClient
) -> None:
    tensor = triton.InferInput("x", [1, 64], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 64), dtype=np.float32))
    client.infer("mlp", [tensor], model_version="1")
    request(server, "POST", "/v2/models/mlp/versions/1/infer", b"{")
    request(server, "POST", "/v2/models/unknown/infer", b"{}")
    status, headers, raw = request(server, "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = raw.decode()
    assert (
        'interlock_requests_total{endpoint="infer",model="mlp",protocol="rest",status="200",version="1"}'
        in text
    )
    assert (
        'interlock_requests_total{endpoint="infer",model="mlp",protocol="rest",status="400",version="1"}'
        in text
    )
    assert (
        'interlock_requests_total{endpoint="infer",model="",protocol="rest",status="404",version=""}'
        in text
    )
    assert 'interlock_request_duration_seconds_count{model="mlp",protocol="rest"}' in text
    assert 'interlock_batch_size_count{model="mlp",version="1"}' in text
    assert 'interlock_queue_depth{model="mlp",version="1"} 0.0' in text
