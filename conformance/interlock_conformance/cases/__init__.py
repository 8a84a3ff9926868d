"""The conformance cases, one module per component kind (spec: conformance.md)."""
