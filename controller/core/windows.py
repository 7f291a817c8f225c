"""Rolling windows as rings of buckets: sliding-window dose limits and accumulated air.

Theory of operation
-------------------
A window of length ``W = N * B`` is kept as the current bucket plus ``N`` closed buckets of
length ``B``, newest first. Any interval of length ``W`` - aligned or not - overlaps at most
``N + 1`` consecutive buckets, and while the newest of those was current their sum was
``current + sum(closed)``. So enforcing ``current + sum(closed) + (what the motor may
still push) <= limit`` at every moment bounds the volume in *every* window of length W,
not only the aligned ones (REQ-DOS-004). The price is conservatism of at most one bucket
(1/12 of the window).

Delivery inside a tick is attributed exactly: the mechanism runs at the commanded rate
until its cap, so the volume pushed before a bucket boundary is
``min(rate * (boundary - clock), moved)``; the rest goes to the new bucket. A tick is never
longer than a bucket (validation), so it crosses at most one boundary.

A ring carries its own bucket length: a dose window belongs to the patient's line, so a
program change neither restarts nor shortens it (``reset`` only re-arms an empty ring).

Rules
1. Every function is dual-use; a rotation is an ``ite`` on ``clock' >= end``.
2. Invariant kept by callers: ``clock < end <= clock + B`` (the current bucket is open).
"""

from __future__ import annotations

from controller.core.logic import all_of, branch, minimum, total
from controller.core.state import Ring


def used(cur: int, ring: Ring) -> int:
    """Volume counted against the window now (current + closed buckets)."""
    return cur + ring.total


def advance(cur: int, ring: Ring, clock: int, dt: int, rate: int, moved: int) -> tuple[int, Ring]:
    """Account ``moved`` (pushed at ``rate`` from ``clock`` for ``dt`` ms) and rotate."""
    bucket = ring.bucket

    def kept() -> tuple[int, Ring]:
        return cur + moved, ring

    def rotated() -> tuple[int, Ring]:
        pre = minimum(rate * (ring.end - clock), moved)  # what was pushed before the bucket closed
        total2 = ring.total + cur + pre - ring.closed[-1]
        return moved - pre, Ring((cur + pre,) + ring.closed[:-1], ring.end + bucket, total2, bucket)

    # one definition of each branch: at run time only the branch taken is computed
    return branch(clock + dt >= ring.end, rotated, kept)


def collapse(cur: int, ring: Ring, clock: int, bucket: int) -> tuple[int, Ring]:
    """Restart a window with a new bucket length, conservatively: everything counted so far
    is treated as delivered now, so no past delivery can drop out early. Used for the air
    window when the pump limits change; dose windows never collapse (they ``reset`` only
    when empty)."""
    return used(cur, ring), Ring((0,) * len(ring.closed), clock + bucket, 0, bucket)


def reset(cur: int, ring: Ring, clock: int, bucket: int, when: bool) -> tuple[int, Ring]:
    """Re-arm the ring with a new bucket length when ``when`` holds (callers ensure it is empty)."""
    return branch(when, lambda: (0, Ring((0,) * len(ring.closed), clock + bucket, 0, bucket)), lambda: (cur, ring))


def well_formed(ring: Ring, clock: int) -> bool:
    """The current bucket is open, no bucket is negative and the cached total is the sum
    (auxiliary invariant for the proofs)."""
    return all_of(ring.bucket >= 1, clock < ring.end, ring.end <= clock + ring.bucket,
                  ring.total == total(ring.closed), *(b >= 0 for b in ring.closed))
