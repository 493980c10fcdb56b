"""orderscope: graph-backed order traceability and root-cause analytics."""

__version__ = "0.1.0"
