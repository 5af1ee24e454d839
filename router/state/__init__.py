"""State: every Redis key, and the writers that keep what cannot be written now."""
