"""The lanes every messenger adapter runs its deliveries in: one chat's work in the order it came,
other chats meanwhile, at most ``workers`` at once, and shutdown that waits, then cancels."""

from __future__ import annotations

import asyncio

from bots.common import ChatLanes


def test_one_chats_work_waits_for_the_work_before_it_and_others_go_meanwhile():
    async def main() -> list[str]:
        lanes, log, gate = ChatLanes(workers=4), [], asyncio.Event()

        def work(name: str, wait: bool = False):
            async def run() -> None:
                log.append(f"{name} start")
                if wait:
                    await gate.wait()
                log.append(f"{name} end")
            return run

        async def fails() -> None:
            log.append("a2 fails")
            raise RuntimeError("a bug in one delivery")

        lanes.run("a", work("a1", wait=True))
        lanes.run("a", fails)
        lanes.run("a", work("a3"))
        lanes.run("b", work("b1"))
        await asyncio.sleep(0.05)
        assert log == ["a1 start", "b1 start", "b1 end"]  # a2 waits for a1; b is not held up
        gate.set()
        await lanes.drain(5)
        return log

    assert asyncio.run(main()) == ["a1 start", "b1 start", "b1 end", "a1 end", "a2 fails", "a3 start", "a3 end"]


def test_no_more_than_workers_run_at_once_and_drain_cancels_what_outlives_it():
    async def main() -> tuple[int, list[bool]]:
        lanes, running, most = ChatLanes(workers=2), 0, 0
        cancelled: list[bool] = []

        async def hold() -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            try:
                await asyncio.sleep(0.05)
            finally:
                running -= 1

        async def forever() -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        for chat in range(6):
            lanes.run(chat, hold)
        lanes.track(asyncio.get_running_loop().create_task(forever()))
        await lanes.drain(1)
        await asyncio.sleep(0)
        return most, cancelled

    most, cancelled = asyncio.run(main())
    assert most == 2 and cancelled == [True]
