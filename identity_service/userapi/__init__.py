"""The user-facing HTTP/JSON API: end users see and change who may use their likeness.

It shares the domain services with the gRPC server; handlers only authenticate, check
ownership, validate, call and convert.
"""
