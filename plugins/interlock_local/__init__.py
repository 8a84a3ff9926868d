"""interlock's reference batch executor: streams a dataset through a model on this machine.

Registered through the ``interlock`` entry-point group like any vendor plugin; the component is
the executor ``local`` (see ``docs/batch.md``).
"""
