"""interlock plugin: the `delta` dataset format (Delta Lake tables, through deltalake).

Registered through the ``interlock`` entry-point group like any vendor plugin.
"""
