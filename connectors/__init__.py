"""Connectors: one contract (``connectors.base``), one module per external system."""
