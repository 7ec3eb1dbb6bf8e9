"""Hash values for tests that look like what real hashing produces."""

from __future__ import annotations

MASK_128 = (1 << 128) - 1


def pdq_value(n: int) -> str:
    """A distinct PDQ value for each n < 2**128, with 128 of its 256 bits set like real PDQ.

    The first half is n, the second its complement; values of different n differ in twice
    as many bits as the numbers themselves.
    """
    return f"{n & MASK_128:032x}{~n & MASK_128:032x}"


def far_pdq(n: int) -> str:
    """A PDQ value for each n, about 128 bits from that of any other n (none match)."""
    import hashlib

    return pdq_value(int.from_bytes(hashlib.md5(str(n).encode(), usedforsecurity=False).digest()))
