"""Adaptive batching: calls that queue while a batch is scored share the next one, when they can."""

from __future__ import annotations

import asyncio
import threading

import pytest

from serving.batching import INLINE_ITEMS, INLINE_LOOKS, Batcher, Call, ScoringThread
from serving.http import InFlight
from serving.schemas.common import MAX_ITEMS
from serving.schemas.scoring import LeadIn, LeadScoreRequest


def _call(*ids: str, locale: str = "zh-CN", top: int = 5, worker: InFlight | None = None) -> Call:
    leads = [LeadIn.model_construct(lead_id=i) for i in ids]
    request = LeadScoreRequest.model_construct(leads=leads, locale=locale, top=top)
    return Call(request, {"request_id": ids[0]}, worker)


class Recorder:
    """A score function that answers each call with its ids, records every batch, and holds the first batch until
    released (so that the test can queue calls behind it)."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.started, self.release = threading.Event(), threading.Event()
        self.fail_on = fail_on

    def __call__(self, calls: list[Call]) -> list[list[str]]:
        self.batches.append([call.head["request_id"] for call in calls])
        self.started.set()
        self.release.wait(5)
        if any(self.fail_on in call.ids for call in calls if self.fail_on):
            raise ValueError(f"{self.fail_on} is bad")
        return [sorted(call.ids) for call in calls]


async def _score(recorder: Recorder, first: Call, *queued: Call) -> list[object]:
    """Submit ``first``, wait until it is being scored, queue the others, release, and gather every answer."""
    batcher = Batcher(recorder, ScoringThread(), inline_items=0)  # every batch on the thread: the first is held
    tasks = [asyncio.create_task(batcher.submit(first))]
    await asyncio.to_thread(recorder.started.wait, 5)
    tasks += [asyncio.create_task(batcher.submit(call)) for call in queued]
    await asyncio.sleep(0.01)  # the queued calls reach the queue
    recorder.release.set()
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)  # every call is answered


def test_calls_queued_behind_a_batch_share_the_next_one() -> None:
    recorder = Recorder()
    answers = asyncio.run(_score(recorder, _call("a"), _call("b"), _call("c", "d"), _call("e")))
    assert recorder.batches == [["a"], ["b", "c", "e"]]
    assert answers == [["a"], ["b"], ["c", "d"], ["e"]]  # each call its own answer


def test_calls_that_cannot_share_a_batch_wait_for_a_later_one() -> None:
    recorder = Recorder()
    big = _call(*(f"big-{i}" for i in range(MAX_ITEMS)))
    queued = (
        _call("b"),
        _call("b", "x"),  # repeats b's id
        _call("c", locale="en"),  # another language
        _call("d", top=3),  # another factor count
        big,  # over the item limit beside b
        _call("e"),
    )
    answers = asyncio.run(_score(recorder, _call("a"), *queued))
    assert recorder.batches == [["a"], ["b", "e"], ["b"], ["c"], ["d"], ["big-0"]]
    assert answers[2] == ["b", "x"] and answers[5] == sorted(big.ids)


def test_one_calls_error_stays_its_own() -> None:
    recorder = Recorder(fail_on="bad")
    answers = asyncio.run(_score(recorder, _call("a"), _call("b"), _call("bad"), _call("c")))
    assert answers[0] == ["a"] and answers[1] == ["b"] and answers[3] == ["c"]
    assert isinstance(answers[2], ValueError)
    assert recorder.batches == [["a"], ["b", "bad", "c"], ["b"], ["bad"], ["c"]]  # the batch failed: one by one


@pytest.mark.parametrize("queued", [0, 3])
def test_a_call_on_a_quiet_service_is_scored_at_once(queued: int) -> None:
    recorder = Recorder()
    recorder.release.set()
    calls = [_call(f"q-{i}") for i in range(queued)]
    answers = asyncio.run(_score(recorder, _call("first"), *calls))
    assert recorder.batches[0] == ["first"] and len(answers) == queued + 1


class Where:
    """A score function that answers each call with its ids and records each batch's thread and calls."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[str]]] = []

    def __call__(self, calls: list[Call]) -> list[list[str]]:
        self.batches.append((threading.current_thread().name, [call.head["request_id"] for call in calls]))
        return [sorted(call.ids) for call in calls]


def test_a_call_alone_on_a_quiet_worker_is_scored_on_the_loop() -> None:
    """Up to ``INLINE_ITEMS`` items, no other call in flight on the worker (or none counted: a call in process), the
    thread idle: on the event loop. More items, another call in flight, or the thread at work (here on a job of its
    own, as a shadow score would be): on the thread, after its job."""
    where = Where()
    small, large = ([f"{size}-{i}" for i in range(size)] for size in (INLINE_ITEMS, INLINE_ITEMS + 1))

    async def scored() -> list[object]:
        thread, release, alone = ScoringThread(), threading.Event(), InFlight(1)
        batcher = Batcher(where, thread)
        answers = [
            await batcher.submit(_call(*small, worker=alone)),
            await batcher.submit(_call(*large, worker=alone)),
            await batcher.submit(_call("other", worker=InFlight(2))),
            await batcher.submit(_call("in-process")),
        ]
        assert thread.idle
        job = thread.submit(release.wait, 5)
        waiting = asyncio.create_task(batcher.submit(_call("after", worker=alone)))
        await asyncio.sleep(0.01)
        assert not waiting.done() and not thread.idle  # queued behind the thread's job, not scored on the loop
        release.set()
        answers.append(await asyncio.wait_for(waiting, 10))
        assert job.result() and thread.idle
        return answers

    answers = asyncio.run(scored())
    assert answers == [sorted(small), sorted(large), ["other"], ["in-process"], ["after"]]
    loop = threading.current_thread().name
    assert [name == loop for name, _ in where.batches] == [True, False, False, True, False], where.batches


def test_a_call_that_comes_while_the_loop_looks_shares_the_batch() -> None:
    """A call alone when it is queued, joined by another before the loop has turned ``INLINE_LOOKS`` times (a
    request whose bytes came meanwhile): both in one batch on the thread, in their order."""
    where = Where()

    async def scored() -> list[object]:
        worker = InFlight(1)
        batcher = Batcher(where, ScoringThread())
        first = asyncio.create_task(batcher.submit(_call("first", worker=worker)))
        for _ in range(INLINE_LOOKS - 1):
            await asyncio.sleep(0)
        worker.count += 1  # the second request's body is read
        second = asyncio.create_task(batcher.submit(_call("second", worker=worker)))
        return await asyncio.wait_for(asyncio.gather(first, second), 10)

    assert asyncio.run(scored()) == [["first"], ["second"]]
    assert len(where.batches) == 1 and where.batches[0][1] == ["first", "second"], where.batches
    assert where.batches[0][0].startswith("salesml-scoring")
