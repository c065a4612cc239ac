"""Scoring calls that arrive together are scored together: adaptive batching without a wait.

Most of a scoring call's cost is fixed: building some 140 features and their explanations costs about the same for
one lead as for ten. So while the service scores one batch, new calls queue, and the next batch takes every queued
call it can: same locale and factor count, no id twice, at most ``MAX_ITEMS`` items (the others wait for the batch
after). A call on a quiet service is scored at once. Each call's items are scored as if alone (for leads,
``features.pit.history`` counts each call's own changes to the history for its rows only); deals are scored one call
at a time, because a deal's features read the other deals' amounts. Each call keeps its own answer, log records
and errors: when a batch fails, its calls are scored one by one, so one call's error is not another's.

Batches run on one scoring thread, so the event loop keeps reading requests meanwhile.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from serving.schemas.common import MAX_ITEMS
from serving.schemas.scoring import ScoreOptions

Answer = TypeVar("Answer")


@dataclass(frozen=True)
class Call:
    """A scoring request and the start of its prediction-log records (read in the request's own context)."""

    request: ScoreOptions
    head: dict[str, Any]

    @property
    def ids(self) -> set[str]:
        name, key = self.request.items_and_key
        return {getattr(item, key) for item in getattr(self.request, name)}

    def joins(self, first: Call, ids: set[str], items: int) -> bool:
        """Whether this call can be scored in ``first``'s batch, which holds ``ids`` (``items`` of them)."""
        same = (self.request.locale, self.request.top) == (first.request.locale, first.request.top)
        mine = self.ids
        return same and items + len(mine) <= MAX_ITEMS and not mine & ids


class Batcher(Generic[Answer]):
    """Queues scoring calls and scores them in batches with ``score`` (calls -> one answer per call)."""

    def __init__(
        self, score: Callable[[list[Call]], list[Answer]], executor: ThreadPoolExecutor, together: bool = True
    ) -> None:
        self._score = score
        self._executor = executor
        self._together = together  # False: one call a batch
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
            await self._run(self._next_batch())

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
            answers = await asyncio.get_running_loop().run_in_executor(self._executor, self._score, calls)
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
