"""The Arrow <-> tensor mapping (spec: runtime.md, RT-030 and following)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from onnx import helper
from runtime_models import mlp, model, save, tensor, unary

import interlock
from interlock import ColumnMapping, InputBinding, OutputBinding, Signature, SignatureMismatch, TensorSpec
from interlock.tensors import batch_to_tensors, tensors_to_batch
from interlock_conformance import requirement


def sig(inputs: list[tuple[str, str, list[int | str | None]]], outputs: list[tuple[str, str, list[int | str | None]]] | None = None) -> Signature:
    return Signature(
        inputs=[TensorSpec(name=n, dtype=d, shape=s) for n, d, s in inputs],  # type: ignore[arg-type]
        outputs=[TensorSpec(name=n, dtype=d, shape=s) for n, d, s in (outputs or [("y", "float32", ["batch"])])],  # type: ignore[arg-type]
    )


def shares_arrow_memory(value: np.ndarray, array: pa.Array) -> bool:
    """Whether ``value`` is a view of the data buffer of ``array`` (no copy was made)."""
    buffer = array.buffers()[-1]
    start = value.__array_interface__["data"][0]
    return buffer.address <= start < buffer.address + buffer.size


# -- one column --------------------------------------------------------------------------------


@requirement("RT-038")
def test_primitive_column_is_a_zero_copy_1d_tensor() -> None:
    column = pa.array(np.arange(5, dtype=np.float32)).slice(1)
    tensors = batch_to_tensors(pa.record_batch({"x": column}), sig([("x", "float32", ["batch"])]), ColumnMapping.identity(sig([("x", "float32", ["batch"])])))
    np.testing.assert_array_equal(tensors["x"], [1, 2, 3, 4])
    assert shares_arrow_memory(tensors["x"], column)


@pytest.mark.parametrize("second", [1, "features", None])
def test_primitive_column_feeds_a_rows_by_one_tensor(second: int | str | None) -> None:
    signature = sig([("x", "int64", ["batch", second])])
    tensors = batch_to_tensors(pa.record_batch({"x": pa.array([1, 2, 3])}), signature, ColumnMapping.identity(signature))
    assert tensors["x"].shape == (3, 1) and tensors["x"].dtype == np.int64


def test_primitive_column_cannot_feed_a_wider_tensor() -> None:
    signature = sig([("x", "int64", ["batch", 4])])
    with pytest.raises(SignatureMismatch, match=r"column 'x' holds 1 value\(s\) per row \(int64\), which cannot feed input tensor 'x' int64\[batch,4\]"):
        batch_to_tensors(pa.record_batch({"x": pa.array([1, 2])}), signature, ColumnMapping.identity(signature))


@requirement("RT-038")
def test_fixed_size_list_column_is_a_zero_copy_2d_tensor() -> None:
    values = pa.array(np.arange(12, dtype=np.float64))
    column = pa.FixedSizeListArray.from_arrays(values, 3).slice(1, 2)
    signature = sig([("x", "float64", ["batch", 3])])
    tensors = batch_to_tensors(pa.record_batch({"x": column}), signature, ColumnMapping.identity(signature))
    np.testing.assert_array_equal(tensors["x"], [[3, 4, 5], [6, 7, 8]])
    assert shares_arrow_memory(tensors["x"], values)


def test_nested_fixed_size_lists_are_n_d_tensors() -> None:
    inner = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(24, dtype=np.int16)), 4)
    column = pa.FixedSizeListArray.from_arrays(inner, 3)
    signature = sig([("x", "int16", ["batch", 3, 4])])
    tensors = batch_to_tensors(pa.record_batch({"x": column}), signature, ColumnMapping.identity(signature))
    np.testing.assert_array_equal(tensors["x"], np.arange(24, dtype=np.int16).reshape(2, 3, 4))


def test_list_shape_must_match_the_fixed_dimensions() -> None:
    column = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(6, dtype=np.float32)), 3)
    signature = sig([("x", "float32", ["batch", 4])])
    with pytest.raises(SignatureMismatch, match=r"column 'x' holds 3 value\(s\) per row .* cannot feed input tensor 'x' float32\[batch,4\]"):
        batch_to_tensors(pa.record_batch({"x": column}), signature, ColumnMapping.identity(signature))
    signature = sig([("x", "float32", ["batch", 3, 1])])
    with pytest.raises(SignatureMismatch, match="cannot feed"):
        batch_to_tensors(pa.record_batch({"x": column}), signature, ColumnMapping.identity(signature))


@requirement("RT-034")
def test_fixed_shape_tensor_column_is_an_n_d_tensor() -> None:
    data = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    column = pa.FixedShapeTensorArray.from_numpy_ndarray(data).slice(1, 2)
    signature = sig([("x", "float32", ["batch", 2, 3])])
    tensors = batch_to_tensors(pa.record_batch({"x": column}), signature, ColumnMapping.identity(signature))
    np.testing.assert_array_equal(tensors["x"], data[1:3])
    assert shares_arrow_memory(tensors["x"], column.storage.values)


def test_permuted_fixed_shape_tensor_uses_the_logical_shape() -> None:
    physical = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    storage = pa.FixedShapeTensorArray.from_numpy_ndarray(physical).storage
    permuted = pa.ExtensionArray.from_storage(pa.fixed_shape_tensor(pa.float32(), [2, 3], permutation=[1, 0]), storage)
    signature = sig([("x", "float32", ["batch", 3, 2])])
    tensors = batch_to_tensors(pa.record_batch({"x": permuted}), signature, ColumnMapping.identity(signature))
    np.testing.assert_array_equal(tensors["x"], physical.transpose(0, 2, 1))


@pytest.mark.parametrize("arrow_type", [pa.string(), pa.large_string(), pa.string_view()])
def test_string_columns_are_object_string_tensors(arrow_type: pa.DataType) -> None:
    signature = sig([("x", "string", ["batch"])])
    tensors = batch_to_tensors(pa.record_batch({"x": pa.array(["a", "é"], arrow_type)}), signature, ColumnMapping.identity(signature))
    assert tensors["x"].dtype == object and tensors["x"].tolist() == ["a", "é"]


def test_dictionary_encoded_strings_are_decoded() -> None:
    signature = sig([("x", "string", ["batch"])])
    column = pa.array(["a", "b", "a"]).dictionary_encode()
    tensors = batch_to_tensors(pa.record_batch({"x": column}), signature, ColumnMapping.identity(signature))
    assert tensors["x"].tolist() == ["a", "b", "a"]


def test_bool_columns_are_unpacked() -> None:
    signature = sig([("x", "bool", ["batch"])])
    tensors = batch_to_tensors(pa.record_batch({"x": pa.array([True, False, True]).slice(1)}), signature, ColumnMapping.identity(signature))
    assert tensors["x"].dtype == np.bool_ and tensors["x"].tolist() == [False, True]


# -- several columns --------------------------------------------------------------------------


def test_several_columns_are_gathered_in_the_listed_order() -> None:
    signature = sig([("x", "float32", ["batch", 3])])
    mapping = ColumnMapping(inputs=[InputBinding(tensor="x", columns=["c", "a", "b"])], outputs=[OutputBinding(tensor="y", column="y")])
    batch = pa.record_batch({name: pa.array(values, pa.float32()) for name, values in {"a": [1, 2], "b": [3, 4], "c": [5, 6]}.items()})
    tensors = batch_to_tensors(batch, signature, mapping)
    np.testing.assert_array_equal(tensors["x"], [[5, 1, 3], [6, 2, 4]])
    assert tensors["x"].flags.c_contiguous
    in_order = ColumnMapping(inputs=[InputBinding(tensor="x", columns=["a", "b", "c"])], outputs=[OutputBinding(tensor="y", column="y")])
    np.testing.assert_array_equal(batch_to_tensors(batch, signature, in_order)["x"], [[1, 3, 5], [2, 4, 6]])


def test_gathering_needs_a_matching_2d_tensor() -> None:
    signature = sig([("x", "float32", ["batch", 3])])
    mapping = ColumnMapping(inputs=[InputBinding(tensor="x", columns=["a", "b"])], outputs=[OutputBinding(tensor="y", column="y")])
    batch = pa.record_batch({"a": pa.array([1.0], pa.float32()), "b": pa.array([1.0], pa.float32())})
    with pytest.raises(SignatureMismatch, match=r"2 columns \['a', 'b'\] cannot be gathered into input tensor 'x' float32\[batch,3\]"):
        batch_to_tensors(batch, signature, mapping)


def test_gathered_string_columns() -> None:
    signature = sig([("x", "string", ["batch", 2])])
    mapping = ColumnMapping(inputs=[InputBinding(tensor="x", columns=["a", "b"])], outputs=[OutputBinding(tensor="y", column="y")])
    tensors = batch_to_tensors(pa.record_batch({"a": ["p", "q"], "b": ["r", "s"]}), signature, mapping)
    assert tensors["x"].tolist() == [["p", "r"], ["q", "s"]]


# -- what is refused ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column",
    [
        pa.array([1.0, None, 3.0], pa.float32()),
        pa.FixedSizeListArray.from_arrays(pa.array([1.0, None, 3.0, 4.0], pa.float32()), 2),
        pa.array([[1.0, 2.0], None], pa.list_(pa.float32(), 2)),
    ],
)
def test_nulls_are_refused_naming_the_column(column: pa.Array) -> None:
    shape: list[int | str | None] = ["batch"] if pa.types.is_floating(column.type) else ["batch", 2]
    signature = sig([("x", "float32", shape)])
    mapping = ColumnMapping(inputs=[InputBinding(tensor="x", columns=["feature"])], outputs=[OutputBinding(tensor="y", column="y")])
    with pytest.raises(SignatureMismatch, match=r"column 'feature' holds 1 null value\(s\); input tensor 'x'") as info:
        batch_to_tensors(pa.record_batch({"feature": column}), signature, mapping)
    assert "fill_null" in str(info.value.hint)


def test_nulls_in_one_of_several_gathered_columns() -> None:
    signature = sig([("x", "int32", ["batch", 2])])
    mapping = ColumnMapping(inputs=[InputBinding(tensor="x", columns=["a", "b"])], outputs=[OutputBinding(tensor="y", column="y")])
    batch = pa.record_batch({"a": pa.array([1, 2], pa.int32()), "b": pa.array([1, None], pa.int32())})
    with pytest.raises(SignatureMismatch, match="column 'b' holds 1 null"):
        batch_to_tensors(batch, signature, mapping)


@pytest.mark.parametrize(
    ("column", "expected_in_hint"),
    [
        (pa.array([1.0, 2.0]), "column.cast(pyarrow.float32())"),
        (pa.array([1, 2], pa.int32()), "column.cast(pyarrow.float32())"),
        (pa.array(["1", "2"]), "column.cast(pyarrow.float32())"),
        (pa.array([[1.0], [2.0]], pa.list_(pa.float32())), "variable-size lists"),
        (pa.array([{"a": 1.0}, {"a": 2.0}]), "tensors take bool, integer, float and string columns"),
    ],
)
def test_other_element_types_are_never_cast(column: pa.Array, expected_in_hint: str) -> None:
    signature = sig([("x", "float32", ["batch"])])
    with pytest.raises(SignatureMismatch, match=f"column 'x' has type {column.type}, but input tensor 'x' expects float32 elements") as info:
        batch_to_tensors(pa.record_batch({"x": column}), signature, ColumnMapping.identity(signature))
    assert expected_in_hint in str(info.value.hint)


def test_missing_columns_are_named_with_their_tensor() -> None:
    signature = sig([("x", "float32", ["batch"])])
    with pytest.raises(SignatureMismatch, match=r"missing column\(s\) 'x' \(feeds input tensor 'x'\); the data has \['z'\]"):
        batch_to_tensors(pa.record_batch({"z": pa.array([1.0], pa.float32())}), signature, ColumnMapping.identity(signature))
    with pytest.raises(SignatureMismatch, match="missing column"):
        batch_to_tensors(pa.table({"z": pa.array([1.0], pa.float32())}), signature, ColumnMapping.identity(signature))


def test_duplicate_column_names_are_refused() -> None:
    signature = sig([("x", "float32", ["batch"])])
    batch = pa.RecordBatch.from_arrays([pa.array([1.0], pa.float32())] * 2, names=["x", "x"])
    with pytest.raises(SignatureMismatch, match=r"duplicate column names \['x'\]"):
        batch_to_tensors(batch, signature, ColumnMapping.identity(signature))
    with pytest.raises(SignatureMismatch, match=r"duplicate column names \['x'\]"):
        batch_to_tensors(pa.Table.from_batches([batch]), signature, ColumnMapping.identity(signature))


def test_a_mapping_that_does_not_fit_the_signature() -> None:
    signature = sig([("x", "float32", ["batch"])])
    mapping = ColumnMapping(inputs=[InputBinding(tensor="other", columns=["x"])], outputs=[OutputBinding(tensor="y", column="y")])
    with pytest.raises(SignatureMismatch, match="column mapping does not fit the signature"):
        batch_to_tensors(pa.record_batch({"x": pa.array([1.0], pa.float32())}), signature, mapping)


# -- tables and other Arrow producers -----------------------------------------------------------


def test_chunked_tables_are_merged_and_unread_columns_ignored() -> None:
    signature = sig([("x", "int64", ["batch"])])
    table = pa.concat_tables([pa.table({"x": [1, 2], "junk": [None, None]}), pa.table({"x": [3], "junk": [None]})])
    assert table.column("x").num_chunks == 2
    tensors = batch_to_tensors(table, signature, ColumnMapping.identity(signature))
    assert tensors["x"].tolist() == [1, 2, 3]


def test_arrow_pycapsule_producers_are_accepted() -> None:
    signature = sig([("x", "int64", ["batch"])])
    tensors = batch_to_tensors(pl.DataFrame({"x": [4, 5]}), signature, ColumnMapping.identity(signature))  # type: ignore[arg-type]
    assert tensors["x"].tolist() == [4, 5]


def test_non_arrow_data_is_refused() -> None:
    signature = sig([("x", "int64", ["batch"])])
    with pytest.raises(SignatureMismatch, match="predict\\(\\) takes Arrow data, received dict"):
        batch_to_tensors({"x": [1]}, signature, ColumnMapping.identity(signature))  # type: ignore[arg-type]


# -- outputs ---------------------------------------------------------------------------------------


def out_sig(*outputs: tuple[str, str, list[int | str | None]]) -> tuple[Signature, ColumnMapping]:
    signature = sig([("x", "float32", ["batch"])], list(outputs))
    return signature, ColumnMapping.identity(signature)


def test_1d_outputs_are_primitive_columns() -> None:
    signature, mapping = out_sig(("p", "float32", ["batch"]), ("s", "string", ["batch"]), ("b", "bool", ["batch"]))
    batch = tensors_to_batch(
        {"p": np.array([1.5, 2.5], np.float32), "s": np.array(["u", "v"], dtype=object), "b": np.array([True, False])},
        signature,
        mapping,
    )
    assert batch.schema == pa.schema({"p": pa.float32(), "s": pa.string(), "b": pa.bool_()})
    assert batch.to_pydict() == {"p": [1.5, 2.5], "s": ["u", "v"], "b": [True, False]}


def test_2d_outputs_are_fixed_size_lists() -> None:
    signature, mapping = out_sig(("y", "int64", ["batch", 2]), ("s", "string", ["batch", 2]))
    batch = tensors_to_batch(
        {"y": np.array([[1, 2], [3, 4]]), "s": np.array([["a", "b"], ["c", "d"]], dtype=object)}, signature, mapping
    )
    assert batch.schema.field("y").type == pa.list_(pa.int64(), 2)
    assert batch.schema.field("s").type == pa.list_(pa.string(), 2)
    assert batch.column("y").to_pylist() == [[1, 2], [3, 4]]
    assert batch.column("s").to_pylist() == [["a", "b"], ["c", "d"]]


def test_higher_rank_outputs_are_fixed_shape_tensors() -> None:
    signature, mapping = out_sig(("y", "float16", ["batch", 2, 3]))
    value = np.arange(12, dtype=np.float16).reshape(2, 2, 3)
    batch = tensors_to_batch({"y": value}, signature, mapping)
    column = batch.column("y")
    assert isinstance(column.type, pa.FixedShapeTensorType) and column.type.shape == [2, 3]
    np.testing.assert_array_equal(column.to_numpy_ndarray(), value)


def test_higher_rank_bool_and_string_outputs_are_nested_lists() -> None:
    signature, mapping = out_sig(("b", "bool", ["batch", 1, 2]), ("s", "string", ["batch", 2, 1]))
    batch = tensors_to_batch(
        {"b": np.array([[[True, False]]]), "s": np.array([[["x"], ["y"]]], dtype=object)}, signature, mapping
    )
    assert batch.column("b").to_pylist() == [[[True, False]]]
    assert batch.column("s").to_pylist() == [[["x"], ["y"]]]


def test_zero_size_inner_dimensions() -> None:
    signature, mapping = out_sig(("y", "float32", ["batch", 0]))
    batch = tensors_to_batch({"y": np.zeros((3, 0), np.float32)}, signature, mapping)
    assert batch.num_rows == 3 and batch.column("y").to_pylist() == [[], [], []]


def test_outputs_must_have_one_row_per_input_row(tmp_path: Path) -> None:
    summed = model(
        [helper.make_node("ReduceSum", ["x"], ["y"], keepdims=0)],
        [tensor("x", "float32", ["batch"])],
        [tensor("y", "float32", [])],
    )
    predictor = interlock.load_predictor(save(tmp_path, summed))
    with pytest.raises(SignatureMismatch, match=r"output tensor 'y' is float32\[\], not one row per input row \(2\)"):
        predictor.predict(pa.record_batch({"x": pa.array([1.0, 2.0], pa.float32())}))


# -- predict end to end -------------------------------------------------------------------------


def test_predict_maps_columns_in_and_out(tmp_path: Path) -> None:
    mapping = ColumnMapping(
        inputs=[InputBinding(tensor="x", columns=["f0", "f1", "f2", "f3"])],
        outputs=[OutputBinding(tensor="y", column="scores")],
    )
    artifact = save(tmp_path, mlp(features=4), columns=mapping)
    predictor = interlock.load_predictor(artifact)
    matrix = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    table = pa.table({f"f{i}": matrix[:, i] for i in range(4)} | {"id": np.arange(6)})
    result = predictor.predict(table)
    assert result.schema.names == ["scores"] and result.num_rows == 6
    np.testing.assert_array_equal(
        result.column("scores").flatten().to_numpy().reshape(6, 3), predictor.infer({"x": matrix})["y"]
    )


def test_predict_on_zero_rows(tmp_path: Path) -> None:
    predictor = interlock.load_predictor(save(tmp_path, unary("Neg", "float32", ["batch"])))
    result = predictor.predict(pa.record_batch({"x": pa.array([], pa.float32())}))
    assert result.num_rows == 0 and result.schema.field("y").type == pa.float32()


def test_predict_validates_the_tensors_it_built(tmp_path: Path) -> None:
    predictor = interlock.load_predictor(save(tmp_path, unary("Neg", "float32", [2])))
    with pytest.raises(SignatureMismatch, match=r"expected float32\[2\], received float32\[3\]"):
        predictor.predict(pa.record_batch({"x": pa.array([1.0, 2.0, 3.0], pa.float32())}))


def test_zero_rows_keep_the_column_types() -> None:
    signature, mapping = out_sig(("t", "float32", ["batch", 2, 2]), ("l", "int8", ["batch", 3]))
    batch = tensors_to_batch({"t": np.zeros((0, 2, 2), np.float32), "l": np.zeros((0, 3), np.int8)}, signature, mapping)
    assert batch.num_rows == 0
    assert batch.schema.field("t").type == pa.fixed_shape_tensor(pa.float32(), [2, 2])
    assert batch.schema.field("l").type == pa.list_(pa.int8(), 3)


def test_zero_row_tables_are_read() -> None:
    signature = sig([("x", "float32", ["batch", 2, 2])])
    storage = pa.array([], pa.list_(pa.float32(), 4))
    table = pa.table({"x": pa.ExtensionArray.from_storage(pa.fixed_shape_tensor(pa.float32(), [2, 2]), storage)})
    assert batch_to_tensors(table, signature, ColumnMapping.identity(signature))["x"].shape == (0, 2, 2)


def test_a_new_schema_is_checked_again() -> None:
    from interlock.tensors import ArrowMapping

    signature = sig([("x", "float32", ["batch"])])
    mapping = ArrowMapping(signature, ColumnMapping.identity(signature))
    assert mapping.to_tensors(pa.record_batch({"x": pa.array([1.0], pa.float32())}))["x"].tolist() == [1.0]
    with pytest.raises(SignatureMismatch, match="column 'x' has type double"):
        mapping.to_tensors(pa.record_batch({"x": pa.array([1.0])}))
    with pytest.raises(SignatureMismatch, match="holds 1 null"):
        mapping.to_tensors(pa.record_batch({"x": pa.array([None], pa.float32())}))
