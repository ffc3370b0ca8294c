"""Token-bucket rate limiting for the public API."""

import threading
import time


class TokenBucket:
    """Allows bursts of up to `capacity` requests and a sustained `rate` requests per second.

    The bucket is refilled lazily: instead of a timer adding tokens, each call adds the tokens earned since
    the previous call, so an idle bucket costs nothing.
    """

    def __init__(self, rate, capacity, clock=time.monotonic):
        self.rate = float(rate)
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self.clock = clock
        self.updated = clock()
        self.lock = threading.Lock()

    def try_acquire(self, cost=1.0):
        """True if the request may proceed now; False means answer 429."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= cost:
                self.tokens -= cost
                return True
            return False

    def seconds_until_available(self, cost=1.0):
        """What to put in a Retry-After header."""
        with self.lock:
            missing = cost - self.tokens
            return 0.0 if missing <= 0 else missing / self.rate


class PerClientLimiter:
    """One bucket per client key, created on first use and forgotten after an hour of silence."""

    def __init__(self, rate, capacity, idle_seconds=3600):
        self.rate, self.capacity, self.idle_seconds = rate, capacity, idle_seconds
        self.buckets = {}
        self.lock = threading.Lock()

    def allow(self, client_key):
        with self.lock:
            bucket = self.buckets.get(client_key)
            if bucket is None:
                bucket = self.buckets[client_key] = TokenBucket(self.rate, self.capacity)
        return bucket.try_acquire()

    def sweep(self):
        now = time.monotonic()
        with self.lock:
            for key in [k for k, b in self.buckets.items() if now - b.updated > self.idle_seconds]:
                del self.buckets[key]
