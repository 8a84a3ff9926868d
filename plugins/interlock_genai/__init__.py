"""interlock's text engine over onnxruntime-genai, Microsoft's generation loop for ONNX models.

Registered through the ``interlock`` entry-point group like any vendor plugin and written
against interlock's public API only; the component is the text engine ``onnxruntime-genai``
(see ``docs/text.md``, "Engines").
"""
