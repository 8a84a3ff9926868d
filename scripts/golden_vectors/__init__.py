"""The golden vectors of the conformance suite, built in memory (spec: conformance.md).

``datasets`` builds the Arrow IPC files of awkward data, ``models`` the tiny ONNX models with
their known inputs and outputs; ``scripts/generate_vectors.py`` indexes, checksums and writes
them into ``specs/v1/vectors``.
"""
