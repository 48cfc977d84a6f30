"""Forgetting discord.py's rate-limit bucket of a request made once per server.

discord.py keeps a bucket (about 0.9 KB) for each route and server it has
called, and drops it only after five minutes without a request, and only
once it holds 256 or more. A read made once per server — its AutoMod rules —
would so keep one per server used in the last five minutes: 9 MiB for
10,000 servers. A bucket that is idle and not exhausted holds nothing the
next request needs: without it, that request goes out at once and a new
bucket learns the limits from Discord's answer, as discord.py does for any
route it has not called yet. An exhausted bucket is kept, so the next request
still waits for its reset.
"""

from __future__ import annotations

from typing import Any

from discord.http import HTTPClient, Route


def forget_idle_bucket(http: HTTPClient, route: Route) -> bool:
    """Drop the bucket `route` was rate limited with, if nothing waits on it and it
    has requests left; True if dropped."""
    # The keys discord.py files the bucket under (HTTPClient.request): the route's
    # own, and Discord's hash for it once known (the first call leaves both).
    keys = {
        f"{name}:{route.major_parameters}"
        for name in (route.key, http._bucket_hashes.get(route.key))
        if name
    }
    dropped = False
    for key in keys:
        bucket: Any = http._buckets.get(key)
        if bucket is not None and _idle(bucket):
            del http._buckets[key]
            dropped = True
    return dropped


def _idle(bucket: Any) -> bool:
    """No request in flight or waiting, and requests left (or its window over)."""
    if bucket.outgoing or bucket._pending_requests:
        return False
    return bool(bucket.remaining > 0 or bucket.is_expired())
