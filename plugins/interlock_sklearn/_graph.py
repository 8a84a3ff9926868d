"""Touch-ups to the graph skl2onnx produces, so that the artifact reads well as a table.

- The batch dimension, which skl2onnx leaves unnamed, gets a symbolic name (``N``) on the input
  and on every output, because one row in gives one row out for every estimator.
- A regressor's output, ``variable`` of shape ``[N, 1]``, becomes ``prediction`` of shape
  ``[N]`` (a plain float column); multi-target regressors keep ``[N, k]`` under that name.
- The input tensors take the sample's column types (a float64 Parquet column feeds a float64
  tensor as is); the graph casts them to the precision the estimator was converted in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

    from interlock_sklearn._sample import InputLayout

__all__ = [
    "InputGroup",
    "feed_from_groups",
    "group_inputs",
    "name_batch_dimension",
    "rename_regression_output",
]

REGRESSION_OUTPUT = "prediction"


def name_batch_dimension(model: onnx.ModelProto, name: str) -> None:
    """Give every graph input and output whose first dimension is unknown the name ``name``."""
    for value in [*model.graph.input, *model.graph.output]:
        if not value.type.HasField("tensor_type"):
            continue
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value") and not dims[0].dim_param:
            dims[0].dim_param = name


def _fresh_name(model: onnx.ModelProto, stem: str) -> str:
    taken = {v.name for v in [*model.graph.input, *model.graph.output, *model.graph.initializer]}
    for node in model.graph.node:
        taken.update(node.input)
        taken.update(node.output)
    candidate, counter = stem, 0
    while candidate in taken:
        counter += 1
        candidate = f"{stem}_{counter}"
    return candidate


def rename_regression_output(model: onnx.ModelProto) -> None:
    """Expose a regressor's single output as ``prediction``, flattened to ``[N]`` when it has
    one target. The original output stays an internal value of the graph."""
    from onnx import helper, numpy_helper

    if len(model.graph.output) != 1 or model.graph.output[0].name == REGRESSION_OUTPUT:
        return
    old = model.graph.output[0]
    tensor_type = old.type.tensor_type
    dims = list(tensor_type.shape.dim)
    single_target = len(dims) == 2 and dims[1].HasField("dim_value") and dims[1].dim_value == 1
    batch = dims[0].dim_param if dims and dims[0].dim_param else None
    if single_target:
        import numpy as np

        shape_name = _fresh_name(model, "prediction_shape")
        model.graph.initializer.append(
            numpy_helper.from_array(np.array([-1], dtype=np.int64), name=shape_name)
        )
        node = helper.make_node(
            "Reshape", [old.name, shape_name], [REGRESSION_OUTPUT], name="interlock_prediction"
        )
        new_shape: list[int | str | None] = [batch]
    else:
        node = helper.make_node(
            "Identity", [old.name], [REGRESSION_OUTPUT], name="interlock_prediction"
        )
        new_shape = [batch] + [d.dim_value if d.HasField("dim_value") else None for d in dims[1:]]
    model.graph.node.append(node)
    new_output = helper.make_tensor_value_info(REGRESSION_OUTPUT, tensor_type.elem_type, new_shape)
    del model.graph.output[:]
    model.graph.output.append(new_output)


@dataclass(frozen=True)
class InputGroup:
    """One input tensor of the exported model: the columns of one element type."""

    tensor: str
    dtype: str
    columns: list[str]
    #: Where this group's features sit in the estimator's X, in column order.
    positions: list[int]


def group_inputs(layout: InputLayout, input_name: str) -> list[InputGroup]:
    """Split the input columns by element type: one tensor per type, in order of appearance.

    Columns of one type (the usual case) give the single tensor ``input_name``; mixed types
    give ``<input_name>_<dtype>`` tensors, because a tensor has one element type and interlock
    never casts a column silently.
    """
    if layout.vector:
        every = list(range(layout.n_features))
        return [InputGroup(input_name, layout.dtypes[0], list(layout.columns), every)]
    kinds = list(dict.fromkeys(layout.dtypes))
    groups = []
    for dtype in kinds:
        picked = [i for i, t in enumerate(layout.dtypes) if t == dtype]
        tensor = input_name if len(kinds) == 1 else f"{input_name}_{dtype}"
        groups.append(InputGroup(tensor, dtype, [layout.columns[i] for i in picked], picked))
    return groups


def feed_from_groups(
    model: onnx.ModelProto,
    internal: str,
    groups: list[InputGroup],
    float_dtype: str,
    batch_dim: str,
    default_opset: int,
) -> None:
    """Replace the graph input ``internal`` (the estimator's float ``X``) by the group tensors,
    cast to ``float_dtype`` inside the graph and put back in the estimator's feature order."""
    import numpy as np
    from onnx import helper, numpy_helper

    from interlock.tensors import DTYPES

    graph = model.graph
    float_type = DTYPES[float_dtype].onnx
    width = sum(len(g.positions) for g in groups)
    new_inputs = []
    nodes = []
    parts = []
    for group in groups:
        new_inputs.append(
            helper.make_tensor_value_info(
                group.tensor, DTYPES[group.dtype].onnx, [batch_dim, len(group.positions)]
            )
        )
        if DTYPES[group.dtype].onnx == float_type:
            parts.append(group.tensor)
            continue
        cast = _fresh_name(model, f"{group.tensor}_as_{float_dtype}")
        nodes.append(helper.make_node("Cast", [group.tensor], [cast], to=float_type))
        parts.append(cast)
    current = parts[0]
    if len(parts) > 1:
        current = _fresh_name(model, "interlock_concat")
        nodes.append(helper.make_node("Concat", parts, [current], axis=1))
    order = [p for g in groups for p in g.positions]
    if order != list(range(width)):
        # Concatenated column j holds feature order[j]; X needs feature i at position i.
        where = [0] * width
        for column, feature in enumerate(order):
            where[feature] = column
        indices = _fresh_name(model, "interlock_feature_order")
        graph.initializer.append(numpy_helper.from_array(np.array(where, dtype=np.int64), indices))
        gathered = _fresh_name(model, "interlock_features")
        nodes.append(helper.make_node("Gather", [current, indices], [gathered], axis=1))
        current = gathered
    nodes.append(helper.make_node("Identity", [current], [internal]))
    kept_inputs = [value for value in graph.input if value.name != internal]
    del graph.input[:]
    graph.input.extend([*new_inputs, *kept_inputs])
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend([*nodes, *existing])
    if not any(op.domain in ("", "ai.onnx") for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("", default_opset))
