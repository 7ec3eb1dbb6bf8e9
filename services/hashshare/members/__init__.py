"""Members: the platforms (tenants) that share hashes."""
