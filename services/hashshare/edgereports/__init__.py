"""Match counts that members' edges report: per edge, per hour, per label; no hashes."""
