"""Scoring calls that arrive together are scored together: adaptive batching without a wait.

Most of a scoring call's cost is fixed: building some 140 features and their explanations costs about the same for
one lead as for ten. So while the service scores one batch, new calls queue, and the next batch takes every queued
call it can: same locale and factor count, no id twice, at most ``MAX_ITEMS`` items (the others wait for the batch
after). A call on a quiet service is scored at once. Each call's items are scored as if alone (for leads,
``features.pit.history`` counts each call's own changes to the history for its rows only); deals are scored one call
at a time, because a deal's features read the other deals' amounts. Each call keeps its own answer, log records
and errors: when a batch fails, its calls are scored one by one, so one call's error is not another's.

Batches run on one scoring thread, so the event loop keeps reading requests meanwhile. A call of ``INLINE_ITEMS``
items or fewer (a few milliseconds of work) that finds its worker answering no other call, and the scoring thread
with nothing to do, is scored on the event loop itself: handing it to the thread and back (two wake-ups, Python's
lock passed across twice) costs more than the loop's wait for it, and no other call waits for the loop meanwhile.
Before that, the loop turns a few times (``INLINE_LOOKS``), so that requests whose bytes came meanwhile are counted:
while other calls are in progress, every call goes to the thread and those arriving together share a batch (calls
scored on the loop one after another under load would each pay the whole fixed cost). Either way one batch is
scored at a time.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from serving.http import InFlight
from serving.schemas.common import MAX_ITEMS
from serving.schemas.scoring import ScoreOptions

Answer = TypeVar("Answer")
T = TypeVar("T")
#: A call of at most this many items on a quiet worker is scored on the event loop (``Batcher``).
INLINE_ITEMS = 8
#: The loop turns this many times before a call alone is scored on it: a request whose bytes came meanwhile needs
#: about three to be counted in flight (its bytes read, its task started, its body read), and is then batched with it.
INLINE_LOOKS = 4


@dataclass(frozen=True)
class Call:
    """A scoring request and the start of its prediction-log records (read in the request's own context)."""

    request: ScoreOptions
    head: dict[str, Any]
    worker: InFlight | None = None  # the calls its worker is answering (None: called in process)

    @property
    def alone(self) -> bool:
        """Whether its worker is answering no other call now."""
        return self.worker is None or self.worker.count <= 1

    @property
    def items(self) -> int:
        return len(getattr(self.request, self.request.items_and_key[0]))

    @property
    def ids(self) -> set[str]:
        name, key = self.request.items_and_key
        return {getattr(item, key) for item in getattr(self.request, name)}

    def joins(self, first: Call, ids: set[str], items: int) -> bool:
        """Whether this call can be scored in ``first``'s batch, which holds ``ids`` (``items`` of them)."""
        same = (self.request.locale, self.request.top) == (first.request.locale, first.request.top)
        mine = self.ids
        return same and items + len(mine) <= MAX_ITEMS and not mine & ids


class ScoringThread(ThreadPoolExecutor):
    """A worker's one scoring thread, which knows whether it has work (a batch or a shadow score, queued or running)."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="salesml-scoring")
        self._lock = threading.Lock()
        self._pending = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)  # before the caller's own callbacks: idle when they run
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._lock:
            self._pending -= 1

    @property
    def idle(self) -> bool:
        return self._pending == 0


class Batcher(Generic[Answer]):
    """Queues scoring calls and scores them in batches with ``score`` (calls -> one answer per call) on ``thread``;
    a call alone on its worker, of ``inline_items`` items or fewer, while the thread is idle: on the event loop."""

    def __init__(
        self,
        score: Callable[[list[Call]], list[Answer]],
        thread: ScoringThread,
        together: bool = True,
        inline_items: int = INLINE_ITEMS,
    ) -> None:
        self._score = score
        self._thread = thread
        self._together = together  # False: one call a batch
        self._inline_items = inline_items
        self._queue: deque[tuple[Call, asyncio.Future[Answer]]] = deque()
        self._drain: asyncio.Task[None] | None = None

    async def submit(self, call: Call) -> Answer:
        """The call's answer, scored in the next batch that can take it."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._queue.append((call, future))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._drain_queue())
        return await future

    async def _drain_queue(self) -> None:
        while self._queue:
            if self._on_loop([call for call, _ in self._queue]):
                for _ in range(INLINE_LOOKS):  # requests that came meanwhile reach the queue and share the batch
                    await asyncio.sleep(0)
            await self._run(self._next_batch())

    def _on_loop(self, calls: list[Call]) -> bool:
        """Whether a batch is scored on the event loop: one call of a few items, alone on its worker, while the
        scoring thread is idle."""
        return len(calls) == 1 and calls[0].alone and calls[0].items <= self._inline_items and self._thread.idle

    def _next_batch(self) -> list[tuple[Call, asyncio.Future[Answer]]]:
        batch = [self._queue.popleft()]
        first, ids = batch[0][0], batch[0][0].ids
        items, waiting = len(ids), deque()
        while self._queue:
            queued = self._queue.popleft()
            if queued[1].done():  # its client is gone
                continue
            if self._together and queued[0].joins(first, ids, items):
                batch.append(queued)
                ids |= queued[0].ids
                items = len(ids)
            else:
                waiting.append(queued)
        self._queue.extendleft(reversed(waiting))
        return batch

    async def _run(self, batch: list[tuple[Call, asyncio.Future[Answer]]]) -> None:
        calls = [call for call, _ in batch]
        try:
            if self._on_loop(calls):
                answers = self._score(calls)
            else:
                answers = await asyncio.get_running_loop().run_in_executor(self._thread, self._score, calls)
        except Exception as error:  # noqa: BLE001 - handed to the caller, whose endpoint answers it
            if len(batch) == 1:
                _settle(batch[0][1], error=error)
                return
            for one in batch:
                await self._run([one])
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            _settle(future, answer=answer)


def _settle(future: asyncio.Future[Any], answer: Any = None, error: BaseException | None = None) -> None:
    if future.done():  # cancelled: the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(answer)
