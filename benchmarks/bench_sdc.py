"""SDC provider latencies on 127.0.0.1 (figures, never asserts): startup, remote command, alert report.

    python benchmarks/bench_sdc.py [--runs N]

- provider start: ``PumpProvider`` built (MDIB generated and read) and serving HTTPS;
- consumer connect: mutual-TLS connect, metadata, subscriptions and the full MDIB (``PumpConsumer``);
- remote command: ``Activate`` / ``SetValue`` round trip until the final OperationInvokedReport;
- alert report: from the start of the control period whose core step raises an alarm (the
  door opened just before it) to the consumer's MDIB showing the condition present;
- shutdown: consumer close + provider stop + session stop (the pump stopped, the log closed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.drivers.clocks import SimClock
from controller.sdc.consumer import PumpConsumer
from controller.sdc.provider import PumpProvider
from controller.sdc.roles import RoleMap
from controller.sdc.session import Session
from controller.sdc.tls import contexts, make_pki
from tests.sdc.helpers import simulated


def run_once(folder: Path, figures: dict[str, list[float]]) -> None:
    pki = make_pki(folder)
    session = Session(simulated, SimClock(), folder / "log.db", RoleMap.load(pki.roles), auto=False,
                      request={"rate_ml_h": 10, "vtbi_ml": 100})
    t = time.perf_counter()
    session.start()
    figures["session boot"].append(time.perf_counter() - t)
    t = time.perf_counter()
    provider = PumpProvider(session, contexts(*pki.pump, pki.ca))
    provider.start()
    figures["provider start"].append(time.perf_counter() - t)
    t = time.perf_counter()
    consumer = PumpConsumer(provider.url, contexts(*pki.clinician, pki.ca))
    figures["consumer connect"].append(time.perf_counter() - t)
    t = time.perf_counter()
    assert consumer.activate("op.start").finished
    figures["remote Activate (start)"].append(time.perf_counter() - t)
    t = time.perf_counter()
    consumer.set_value("op.rate", "12")  # refused while running: the round trip of a refusal
    figures["remote SetValue (refused)"].append(time.perf_counter() - t)
    session.advance(100)
    session.call(lambda: session.plant.set_door(True))
    t = time.perf_counter()
    session.advance(100)  # the period in which the door alarm is raised and published
    while not consumer.state("ac.door_open").Presence:
        time.sleep(0.0005)
    figures["alert report (period start -> consumer)"].append(time.perf_counter() - t)
    t = time.perf_counter()
    consumer.close()
    provider.stop()
    session.stop()
    figures["shutdown"].append(time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    figures: dict[str, list[float]] = {k: [] for k in (
        "session boot", "provider start", "consumer connect", "remote Activate (start)",
        "remote SetValue (refused)", "alert report (period start -> consumer)", "shutdown")}
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            run_once(Path(d) / str(i), figures)
    print(f"SDC on 127.0.0.1, {args.runs} runs (median / max, ms):")
    for name, xs in figures.items():
        print(f"  {name:40s} {statistics.median(xs) * 1000:8.1f} / {max(xs) * 1000:8.1f}")
    total = [sum(figures[k][i] for k in figures) for i in range(args.runs)]
    print(f"  {'total (boot to shutdown)':40s} {statistics.median(total) * 1000:8.1f} / {max(total) * 1000:8.1f}")


if __name__ == "__main__":
    main()
