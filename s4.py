import time
from collections import defaultdict


class RateLimiter:
    def __init__(self, rate: int):
        self.rate = rate
        self._hits = defaultdict(list)

    def allow(self, user_id: str) -> bool:
        now = time.monotonic()
        self._hits[user_id].append(now)
        return len(self._hits[user_id]) <= self.rate


limiter = RateLimiter(10)
