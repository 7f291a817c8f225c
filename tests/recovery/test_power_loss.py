"""SIGKILL a simulated infusion that logs to an event log, hundreds of times; resume from the log.

The default run makes ``PUMP_SIGKILL_RUNS`` (40) kills over three chains - a continuous
infusion to its VTBI and KVO, a PCA program with boluses and a lockout, a basal limited by a
dose window - in well under a minute; ``PUMP_SIGKILL_RUNS=300`` is the full campaign. Every
check is in ``tests/recovery/campaign.py``; the kill moments come from a seeded generator
(``PUMP_SIGKILL_SEED``), so a failing campaign names the chain, the life and the log file.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.recovery.campaign import Stats, run_chain

pytestmark = pytest.mark.method("stateful")  # a fault-injection campaign over event sequences

HERE = Path(__file__).resolve().parent
SCENARIOS = tuple(HERE / "scenarios" / f"{n}.toml" for n in ("continuous", "pca", "window"))
KILLS = int(os.environ.get("PUMP_SIGKILL_RUNS", "40"))
SEED = int(os.environ.get("PUMP_SIGKILL_SEED", "20261122"))
PER_CHAIN = 14


@pytest.mark.req("REQ-REC-001", "REQ-REC-002", "REQ-REC-003", "REQ-LOG-001", "REQ-LOG-002")
def test_sigkill_campaign_restores_exact_totals_and_never_delivers_twice(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    st = Stats()
    left, chain = KILLS, 0
    while left > 0:
        assert chain < 10 * len(SCENARIOS) + KILLS, "the chains end before the kills are spent"
        scenario = SCENARIOS[chain % len(SCENARIOS)]
        left -= run_chain(scenario, tmp_path / f"chain{chain:03d}.db", rng, min(left, PER_CHAIN), st)
        chain += 1
    print(f"\nSIGKILL campaign, seed {SEED}:\n{st.summary()}")
    assert st.kills == KILLS and not st.failures
    assert st.restores_checked >= st.restarts // 2  # most restarts got far enough to write their restore record
    assert st.bolus_checks > 0 and st.states.get("PAUSED", 0) > 0
