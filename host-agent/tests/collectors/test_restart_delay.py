"""How long the agent waits before restarting a collector that failed, as a table."""

from __future__ import annotations

import pytest
from host_agent.collectors.base import restart_delay


@pytest.mark.parametrize(
    ("failures_in_a_row", "seconds"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (9, 256.0), (10, 300.0), (40, 300.0), (10_000, 300.0)],
)
def test_a_collector_failing_again_and_again_waits_longer_each_time_up_to_five_minutes(failures_in_a_row, seconds):
    assert restart_delay(failures_in_a_row) == seconds
