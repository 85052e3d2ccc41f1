"""Async set-up: wait_ready_async and ``async with Flags(...)`` in a real FastAPI lifespan."""

import asyncio
import threading
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI, Request

from flagkit import Flags
from tests.helpers.providers import ManualProvider

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient


def test_fastapi_lifespan_waits_for_flags_without_blocking_the_loop() -> None:
    provider = ManualProvider(name="late")  # delivers nothing until the loop runs the task below
    ran_while_waiting: list[bool] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def deliver() -> None:
            ran_while_waiting.append(True)  # only possible if the loop was free during the wait
            provider.publish({"new_checkout": True})

        before = set(threading.enumerate())  # another test's dropped client may still be ending
        flags = Flags(provider)
        flags.ASYNC_READY_TIMEOUT = 30.0
        task = asyncio.ensure_future(deliver())  # runs only when the loop gets control
        async with flags:
            assert flags.ready
            app.state.flags = flags
            yield
        assert task.done()
        started = set(threading.enumerate()) - before
        assert not [t for t in started if t.name.startswith("flagkit-") and t.is_alive()]

    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    def index(request: Request) -> dict[str, bool]:
        return {"new_checkout": request.app.state.flags.is_enabled("new_checkout")}

    with TestClient(app) as client:
        assert client.get("/").json() == {"new_checkout": True}
    assert ran_while_waiting == [True]


def test_wait_ready_async_times_out_and_returns_at_once_when_ready() -> None:
    async def main() -> tuple[bool, bool, int]:
        pending = Flags(ManualProvider())
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.ensure_future(ticker())
        timed_out = await pending.wait_ready_async(0.3)
        tick_task.cancel()
        pending.close()
        ready = await Flags.from_dict({"a": True}).wait_ready_async(0)
        return timed_out, ready, ticks

    timed_out, ready, ticks = asyncio.run(main())
    assert timed_out is False
    assert ready is True
    assert ticks >= 2  # the loop kept running while waiting


def test_wait_ready_async_can_be_cancelled_and_ends_when_closed() -> None:
    async def main() -> bool:
        flags = Flags(ManualProvider())
        waiter = asyncio.ensure_future(flags.wait_ready_async())
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        other = asyncio.ensure_future(flags.wait_ready_async())  # no timeout: close() ends it
        await asyncio.sleep(0.05)
        flags.close()
        return await asyncio.wait_for(other, 30)

    assert asyncio.run(main()) is False
