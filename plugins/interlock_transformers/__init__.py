"""interlock's exporter for Hugging Face ``transformers`` language and embedding models.

Registered through the ``interlock`` entry-point group like any vendor plugin, and written
against interlock's public API only; the component is the exporter ``transformers`` (see
``docs/text.md``).
"""
