"""The change feed: every change to the shared set, in commit order, with a sequence number.

Replicas tail it to keep their match index fresh; members replay it to keep a local copy.
"""
