"""Hashes: submission, lookup and retraction of the shared set."""
