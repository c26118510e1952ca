"""Fair turns at the work a worker can do at once, so one tenant's burst of misses cannot
starve the others.

`FairGate(slots)` lets `slots` searches run; the rest wait in one queue per tenant, and
a freed slot goes to the tenants in turn (round robin), not to whoever queued first. A
tenant with `queue_limit` searches already waiting is refused at once (`GateFull`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class GateFull(Exception):
    """The tenant already has as many searches waiting as it may."""


class FairGate:
    def __init__(self, slots: int, queue_limit: int) -> None:
        if slots < 1 or queue_limit < 0:
            raise ValueError("slots must be >= 1 and queue_limit >= 0")
        self._free = slots
        self._queue_limit = queue_limit
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    def waiting(self, tenant: str) -> int:
        return len(self._waiting.get(tenant, ()))

    @asynccontextmanager
    async def turn(self, tenant: str) -> AsyncIterator[None]:
        """Hold one slot for the block, once it is this tenant's turn."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
        else:
            await self._wait(tenant)
        try:
            yield
        finally:
            self._release()

    async def _wait(self, tenant: str) -> None:
        queue = self._waiting.get(tenant)
        if queue is None:
            queue = self._waiting[tenant] = deque()
        if len(queue) >= self._queue_limit:
            raise GateFull(f"{len(queue)} searches of this tenant are already waiting")
        future = asyncio.get_running_loop().create_future()
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # the slot was handed over as this waiter was cancelled
            else:
                queue.remove(future)
                if not queue and self._waiting.get(tenant) is queue:
                    del self._waiting[tenant]
            raise

    def _release(self) -> None:
        while self._waiting:
            tenant, queue = next(iter(self._waiting.items()))
            future = queue.popleft()
            if queue:
                self._waiting.move_to_end(tenant)  # its next search waits for the others
            else:
                del self._waiting[tenant]
            if not future.done():
                future.set_result(None)
                return
        self._free += 1
