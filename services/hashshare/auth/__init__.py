"""Authentication (JWT bearer tokens) and authorisation (scopes)."""
