"""Adaptive batching: calls that queue while a batch is scored share the next one, when they can."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from serving.batching import Batcher, Call
from serving.schemas.common import MAX_ITEMS
from serving.schemas.scoring import LeadIn, LeadScoreRequest


def _call(*ids: str, locale: str = "zh-CN", top: int = 5) -> Call:
    leads = [LeadIn.model_construct(lead_id=i) for i in ids]
    return Call(LeadScoreRequest.model_construct(leads=leads, locale=locale, top=top), {"request_id": ids[0]})


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
    batcher = Batcher(recorder, ThreadPoolExecutor(1))
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
