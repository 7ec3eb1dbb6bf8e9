"""The label taxonomy every hash is tagged with."""
