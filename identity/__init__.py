"""Identity: enrollment sessions, enrollment from a recording, templates, 1:1 verification and
1:N search over the in-memory index.

Pure domain code: no gRPC, no database, no model runtime. Storage, the template vault, media
decoding with the models, the recording analyser and metrics come in through the protocols in
``identity.ports``.
"""
