"""What every package may import: domain errors, the clock, base64url."""
