"""interlock's reference dataset formats: Parquet, Arrow IPC (Feather v2), CSV and JSON Lines.

Registered through the ``interlock`` entry-point group exactly as a vendor's plugin is, at
:data:`interlock.FALLBACK_PRIORITY` so that any vendor format of the same name takes precedence.
Each is a thin :class:`interlock.datasets.PyArrowFileFormat`: ``pyarrow.dataset`` reads it
(projection and filter push-down, hive partitions); the format only encodes its files.
"""

__all__: list[str] = []
