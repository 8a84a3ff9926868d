"""interlock plugin: Triton model repositories (export, and a read-only artifact store).

Registered through the ``interlock`` entry-point group like any vendor plugin.
"""
