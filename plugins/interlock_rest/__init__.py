"""interlock's reference server: the Open Inference Protocol over HTTP/REST.

Registered through the ``interlock`` entry-point group like any vendor plugin; the component is
the server ``rest`` (see ``docs/serving.md`` and ``specs/v1/serving.md``). Its own HTTP/1.1
layer (httptools' parser on an asyncio protocol, uvloop), JSON by orjson, the binary tensor data
extension, Prometheus metrics and optional bearer-token auth; models, batching and
back-pressure come from the repository it is given (any :class:`interlock.servers.Repository`;
``interlock.serve`` gives it the serving kit's :class:`interlock.serving.ModelRepository`).
"""
