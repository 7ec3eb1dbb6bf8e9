"""Matching: the in-memory index per signal type, its loader, and the match service."""
