"""interlock plugin: the `dask` executor (dask.distributed).

Registered through the ``interlock`` entry-point group like any vendor plugin.
"""
