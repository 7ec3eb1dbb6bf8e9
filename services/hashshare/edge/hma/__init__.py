"""HMA's (OpenMediaMatch's) routes on the edge: local banks, URL fetching, matching and curation."""
