"""Consent: cameo policies, grants, the permission decision, use tokens and revocation.

Pure domain code: no gRPC, no database. Storage comes in through the protocols in
``consent.ports``.
"""
