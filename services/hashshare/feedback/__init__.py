"""Feedback and disputes: members' verdicts on hashes, and the status rules they drive."""
