"""interlock plugin: the `ray` executor (Ray Data).

Registered through the ``interlock`` entry-point group like any vendor plugin.
"""
