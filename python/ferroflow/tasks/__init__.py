"""Ready-made tasks, importable by name (so a restart can import them again)."""
