"""Models and the inference layer: manifest, pull/verify, ONNX Runtime sessions, face and voice.

Handlers and domain code use the small protocols in ``identity_service.inference.protocols``;
nothing outside this package imports onnxruntime.
"""
