"""The template vault: envelope encryption of biometric templates (ISO/IEC 24745: confidential,
renewable, revocable). A data key per subject seals their templates with AES-256-GCM; key
encryption keys from a keyring wrap the data keys; deleting a subject destroys their data key."""
