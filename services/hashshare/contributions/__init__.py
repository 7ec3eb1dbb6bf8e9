"""A member's own contributions, for export (`hashshare export --mine`)."""
