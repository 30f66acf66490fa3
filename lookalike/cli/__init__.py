"""The `lookalike` command line."""
