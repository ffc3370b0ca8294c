"""Calling flaky network services: retries with backoff, and a circuit breaker."""

import random
import time


class TransientError(Exception):
    """An error worth retrying: a timeout, a 503, a dropped connection."""


def call_with_retries(fn, attempts=5, base_delay=0.2, max_delay=10.0, sleep=time.sleep):
    """Calls fn() until it succeeds, waiting longer after each TransientError.

    The wait doubles with every failure, capped at max_delay, and is drawn uniformly between zero and that
    bound ("full jitter"), so that many clients that failed together do not all retry at the same moment.
    Any other exception is raised at once; the last TransientError is raised when attempts run out.
    """
    for attempt in range(attempts):
        try:
            return fn()
        except TransientError:
            if attempt == attempts - 1:
                raise
            bound = min(max_delay, base_delay * (2 ** attempt))
            sleep(random.uniform(0, bound))


class CircuitBreaker:
    """Stops calling a service that keeps failing, and tries it again after a cool-down.

    closed: calls go through; after `threshold` consecutive failures the breaker opens.
    open: calls fail immediately with CircuitOpen until `cooldown` seconds have passed.
    half-open: one trial call goes through; success closes the breaker, failure opens it again.
    """

    def __init__(self, threshold=5, cooldown=30.0, clock=time.monotonic):
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.opened_at = None

    def call(self, fn):
        if self.opened_at is not None:
            if self.clock() - self.opened_at < self.cooldown:
                raise CircuitOpen()
            self.opened_at = None  # half-open: let this one call through
            self.failures = self.threshold - 1
        try:
            result = fn()
        except Exception:
            self.failures += 1
            if self.failures >= self.threshold:
                self.opened_at = self.clock()
            raise
        self.failures = 0
        return result


class CircuitOpen(Exception):
    pass
