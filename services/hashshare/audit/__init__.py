"""Audit: the append-only record of who submitted, matched, retracted or was refused what."""
