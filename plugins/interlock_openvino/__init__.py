"""interlock's OpenVINO runtime: Intel's OpenVINO (``pip install 'interlock[openvino]'``) on CPU.

Registered through the ``interlock`` entry-point group like any vendor plugin, and written
against the public API only; the component is the runtime ``openvino`` (``docs/openvino.md``).
"""
