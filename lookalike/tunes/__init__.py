"""Tunes: a person's identity made from a few photos, kept, listed and deleted."""
