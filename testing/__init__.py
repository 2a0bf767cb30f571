"""Fakes and generators of external things, shared by tests/ and bench/ (never imported by the product)."""
