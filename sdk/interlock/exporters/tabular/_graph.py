"""Touch-ups to the graph onnxmltools produces, so that the artifact reads well as a table.

- The input tensors take the sample's column types; the graph casts them to float32 (the
  precision of ONNX's tree operators) and puts the features back in the model's order.
- The batch dimension gets a symbolic name on the input and on every output.
- Outputs get the spec's names and shapes: ``label`` ``[N]``, ``probabilities`` ``[N, k]``,
  ``prediction`` ``[N]`` (a regressor's ``[N, 1]`` is flattened).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

    from interlock.exporters.tabular._sample import InputGroup

__all__ = ["ensure_default_opset", "feed_from_groups", "shape_outputs"]

PREDICTION = "prediction"


def _fresh_name(model: onnx.ModelProto, stem: str) -> str:
    graph = model.graph
    taken = {v.name for v in [*graph.input, *graph.output, *graph.initializer]}
    for node in graph.node:
        taken.update(node.input)
        taken.update(node.output)
    candidate, counter = stem, 0
    while candidate in taken:
        counter += 1
        candidate = f"{stem}_{counter}"
    return candidate


def ensure_default_opset(model: onnx.ModelProto, version: int) -> None:
    """Import the default ONNX domain (for the Cast, Gather and Reshape nodes added here) when
    the converter used only ``ai.onnx.ml``."""
    from onnx import helper

    if not any(op.domain in ("", "ai.onnx") for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("", version))


def feed_from_groups(
    model: onnx.ModelProto, internal: str, groups: list[InputGroup], batch_dim: str
) -> None:
    """Replace the float32 graph input ``internal`` by the group tensors, cast to float32 and
    gathered back into the model's feature order inside the graph."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from interlock.tensors import DTYPES

    graph = model.graph
    nodes, parts, inputs = [], [], []
    for group in groups:
        element = DTYPES[group.dtype].onnx
        inputs.append(
            helper.make_tensor_value_info(group.tensor, element, [batch_dim, len(group.positions)])
        )
        if element == TensorProto.FLOAT:
            parts.append(group.tensor)
            continue
        cast = _fresh_name(model, f"{group.tensor}_as_float32")
        nodes.append(helper.make_node("Cast", [group.tensor], [cast], to=TensorProto.FLOAT))
        parts.append(cast)
    current = parts[0]
    if len(parts) > 1:
        current = _fresh_name(model, "interlock_concat")
        nodes.append(helper.make_node("Concat", parts, [current], axis=1))
    order = [p for g in groups for p in g.positions]
    if order != sorted(order):
        where = [0] * len(order)
        for column, feature in enumerate(order):
            where[feature] = column  # matrix column `feature` is concatenated column `column`
        indices = _fresh_name(model, "interlock_feature_order")
        graph.initializer.append(numpy_helper.from_array(np.array(where, dtype=np.int64), indices))
        gathered = _fresh_name(model, "interlock_features")
        nodes.append(helper.make_node("Gather", [current, indices], [gathered], axis=1))
        current = gathered
    nodes.append(helper.make_node("Identity", [current], [internal]))
    kept = [value for value in graph.input if value.name != internal]
    del graph.input[:]
    graph.input.extend([*inputs, *kept])
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend([*nodes, *existing])


def shape_outputs(model: onnx.ModelProto, batch_dim: str, n_classes: int | None) -> None:
    """Declare the spec's output shapes; a regressor's single output becomes ``prediction``."""
    from onnx import helper

    graph = model.graph
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = batch_dim
    if n_classes is None:
        _rename_regression_output(model, batch_dim)
        return
    shapes: dict[str, list[int | str | None]] = {
        "label": [batch_dim], "probabilities": [batch_dim, n_classes]
    }
    outputs = []
    for value in graph.output:
        shape = shapes.get(value.name)
        element = value.type.tensor_type.elem_type
        outputs.append(helper.make_tensor_value_info(value.name, element, shape) if shape else value)
    del graph.output[:]
    graph.output.extend(outputs)


def _rename_regression_output(model: onnx.ModelProto, batch_dim: str) -> None:
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    if len(graph.output) != 1 or graph.output[0].name == PREDICTION:
        return
    old = graph.output[0]
    shape_name = _fresh_name(model, "prediction_shape")
    graph.initializer.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), shape_name))
    graph.node.append(
        helper.make_node("Reshape", [old.name, shape_name], [PREDICTION], name="interlock_prediction")
    )
    element = old.type.tensor_type.elem_type
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(PREDICTION, element, [batch_dim]))
