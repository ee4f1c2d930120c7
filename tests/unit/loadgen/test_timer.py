"""The timerfd wake-up fires at its deadline (not before), with sub-millisecond precision."""

from __future__ import annotations

import asyncio
import time

import pytest

from hftperf.loadgen.runner import new_event_loop
from hftperf.loadgen.timer import PreciseTimer, precise_timer_available

pytestmark = pytest.mark.skipif(not precise_timer_available(), reason="needs Linux timerfd")


def test_fires_once_at_the_deadline_and_rearms() -> None:
    loop = new_event_loop()
    fired: list[int] = []
    try:
        async def main() -> None:
            done = asyncio.get_running_loop().create_future()

            def on_fire() -> None:
                fired.append(time.perf_counter_ns())
                if len(fired) < 20:
                    timer.arm_at(time.perf_counter_ns() + 200_000)
                    deadlines.append(fired[-1] + 200_000)
                else:
                    done.set_result(None)

            timer = PreciseTimer(asyncio.get_running_loop(), on_fire)
            deadlines = [time.perf_counter_ns() + 200_000]
            timer.arm_at(deadlines[0])
            await asyncio.wait_for(done, 5)
            timer.close()
            lateness_ns = sorted(f - d for f, d in zip(fired, deadlines, strict=False))
            assert lateness_ns[0] >= 0  # never early
            assert lateness_ns[len(lateness_ns) // 2] < 1_000_000  # the millisecond timers' error is gone

        loop.run_until_complete(main())
    finally:
        loop.close()
