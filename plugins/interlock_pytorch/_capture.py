"""Running ``torch.onnx.export`` (the dynamo-based exporter) quietly, in eval mode, in memory.

The module is wrapped in an adapter that takes the inputs positionally (as ONNX does), casts
table inputs to the module's dtype, calls ``forward`` by position or keyword, and returns a flat
tuple of output tensors. The user's module keeps its ``training`` flags.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from typing import Any

from interlock.errors import ExportError

__all__ = ["capture", "eager_outputs", "flatten_outputs", "kept_state"]


def flatten_outputs(outputs: object, where: str) -> tuple[list[str], list[Any]]:
    """Output names (derived) and tensors: a tensor is ``output``, a tuple ``output_<i>``,
    a dict its keys."""
    import torch

    if isinstance(outputs, torch.Tensor):
        return ["output"], [outputs]
    if isinstance(outputs, dict) and all(isinstance(v, torch.Tensor) for v in outputs.values()):
        return [str(k) for k in outputs], list(outputs.values())
    if isinstance(outputs, tuple | list) and outputs and all(
        isinstance(v, torch.Tensor) for v in outputs
    ):
        return [f"output_{i}" for i in range(len(outputs))], list(outputs)
    raise ExportError(
        f"{where} returns a {type(outputs).__name__}; the pytorch exporter takes modules "
        "returning a tensor, a tuple of tensors or a dict of tensors",
        hint="wrap the module so that forward returns tensors",
    )


@contextlib.contextmanager
def kept_state(module: Any) -> Iterator[None]:
    """Eval mode inside, every submodule's own ``training`` flag restored after."""
    flags = [(sub, sub.training) for sub in module.modules()]
    try:
        module.eval()
        yield
    finally:
        for sub, training in flags:
            sub.training = training


def _adapter(module: Any, keywords: list[str] | None, casts: list[Any]) -> Any:
    import torch

    class InterlockAdapter(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wrapped = module

        def forward(self, *inputs: Any) -> Any:
            values = [x if cast is None else x.to(cast) for x, cast in zip(inputs, casts)]
            if keywords is not None:
                outputs = self.wrapped(**dict(zip(keywords, values)))
            else:
                outputs = self.wrapped(*values)
            return tuple(flatten_outputs(outputs, type(module).__name__)[1])

    return InterlockAdapter()


def eager_outputs(module: Any, feeds: Any) -> tuple[list[str], list[Any]]:
    """The module's own outputs on the sample (already in eval mode, without gradients)."""
    import torch

    values = [x if cast is None else x.to(cast) for x, cast in zip(feeds.tensors, feeds.casts)]
    with torch.no_grad():
        try:
            if feeds.keyword:
                outputs = module(**dict(zip(feeds.names, values)))
            else:
                outputs = module(*values)
        except Exception as exc:
            raise ExportError(
                f"{type(module).__name__} fails on the export sample: {type(exc).__name__}: "
                f"{_one_line(exc)}",
                hint="pass a sample the module runs on (module(*sample) must work)",
            ) from exc
    return flatten_outputs(outputs, type(module).__name__)


def _dynamic_shapes(feeds: Any, opts: Any) -> tuple[Any, ...] | None:
    import torch

    axes: dict[str, dict[int, str]] = {name: {} for name in feeds.names}
    unknown = sorted(set(opts.dynamic_axes) - set(axes))
    if unknown:
        raise ExportError(
            f"dynamic_axes names the input(s) {unknown}; the inputs are {feeds.names}",
            hint="key dynamic_axes by input name",
        )
    for name, tensor in zip(feeds.names, feeds.tensors):
        if opts.dynamic_batch and tensor.dim() > 0:
            axes[name][0] = opts.batch_dim
        for axis, dim in opts.dynamic_axes.get(name, {}).items():
            if not 0 <= axis < tensor.dim():
                raise ExportError(
                    f"dynamic_axes gives input {name!r} axis {axis}; it has {tensor.dim()}",
                    hint="count axes from 0",
                )
            axes[name][axis] = dim
    if not any(axes.values()):
        return None
    dims: dict[str, Any] = {}
    for name, tensor in zip(feeds.names, feeds.tensors):
        for axis, dim in axes[name].items():
            if tensor.shape[axis] < 2:
                raise ExportError(
                    f"input {name!r} has size {tensor.shape[axis]} on its dynamic axis {axis} "
                    f"({dim}); torch specializes sizes 0 and 1",
                    hint="pass a sample with at least 2 rows (2 along every dynamic axis)",
                )
            dims.setdefault(dim, torch.export.Dim(dim))
    spec = tuple({axis: dims[dim] for axis, dim in axes[name].items()} or None
                 for name in feeds.names)
    return (spec,)


def capture(module: Any, feeds: Any, output_names: list[str], opts: Any, opset: int) -> Any:
    """The ``onnx.ModelProto`` of ``module`` on ``feeds``; torch's failures as ExportError."""
    import torch

    adapter = _adapter(module, feeds.names if feeds.keyword else None, feeds.casts)
    shapes = _dynamic_shapes(feeds, opts)
    chatter = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(chatter), _quiet_logs():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                adapter, tuple(feeds.tensors), dynamo=True, input_names=feeds.names,
                output_names=output_names, dynamic_shapes=shapes, opset_version=opset,
                optimize=True, verbose=False, report=False, external_data=False,
            )
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(
            f"torch.onnx.export cannot capture {type(module).__name__}: {_reason(exc)}",
            hint="data-dependent control flow (an `if` on a tensor's values, a loop over its "
            "contents) cannot be exported: rewrite it with torch.where / torch.cond, or keep "
            "the branch out of forward",
        ) from None
    if program is None:  # only when torch is given a file to write, which it is not
        raise ExportError(f"torch.onnx.export returned no program for {type(module).__name__}")
    return program.model_proto


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("torch", "onnxscript", "torch.onnx")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR + 10)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _reason(exc: BaseException) -> str:
    """The innermost cause of torch's error, on one line, without its advice boilerplate."""
    inner: BaseException = exc
    while inner.__cause__ is not None:
        inner = inner.__cause__
    text = _one_line(inner).split(" from user code")[0].split(" Set TORCH_LOGS")[0]
    return f"{type(inner).__name__}: {text[:400]}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
