"""Stubs generated from ``open_inference_grpc.proto`` by ``scripts/generate_grpc.py``.

Do not edit the ``*_pb2*`` files by hand; edit the proto and rerun the script.
"""
