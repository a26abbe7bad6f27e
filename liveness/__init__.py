"""Liveness: enrollment challenges and the checks that a live person performed them."""
