"""Transparency statistics: what is in the shared set and how it is used, live."""
