"""interlock's exporter for PyTorch modules (through ``torch.onnx.export``).

Registered through the ``interlock`` entry-point group like any vendor plugin; the component is
the exporter ``pytorch`` (see ``docs/pytorch.md``).
"""
