"""Likeness consent service: transport, storage, inference and wiring."""

__version__ = "0.1.0"
