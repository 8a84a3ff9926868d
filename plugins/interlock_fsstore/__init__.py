"""interlock's reference artifact store: model artifacts as directories on any fsspec
filesystem. Registered through the ``interlock`` entry-point group like any vendor plugin."""
