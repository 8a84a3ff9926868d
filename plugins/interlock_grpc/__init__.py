"""The Open Inference Protocol over gRPC: interlock's reference ``grpc`` server plugin.

The service is ``inference.GRPCInferenceService`` as the public protocol defines it, so any
standard client (the Triton gRPC client, for one) talks to it unchanged. It runs on
the same asyncio event loop as the REST server, over the same
:class:`interlock.servers.Repository`; ``interlock.serve`` starts every installed server.
"""
