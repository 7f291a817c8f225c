"""``pumpctl sdc serve --serial PORT --driver NAME``: a serial pump family of the drivers registry behind
the SDC provider, with the pump's real self-test; run against the emulators of ``tests/drivers`` on ptys.

Wall-clock tests: the emulators run in this process (``tests.drivers.helpers``), ``serve`` in a
subprocess where it must run as a service (signals, a URL on stdout); every wait polls a
condition with a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("sdc11073")
pytest.importorskip("serial")

from controller.cli import main
from controller.drivers.clocks import Clock, WallClock
from controller.drivers.pty_emulator import Fault
from controller.log.eventlog import EventLog
from controller.sdc import pumps
from controller.sdc.consumer import PumpConsumer
from controller.sdc.session import PumpSetup
from controller.sdc.tls import Pki, contexts, make_pki
from tests.drivers.helpers import HARVARD, KITS, NE1000, Kit
from tests.sdc.helpers import wait_for

PROGRAM = "rate_ml_h = 36\nvtbi_ml = 50\nreservoir_ml = 60\n"  # 10 uL/s: moving for minutes


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def handlers() -> Iterator[None]:
    """``serve`` installs its Ctrl-C / SIGTERM handlers; run in this process, put pytest's back after."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def serve_args(pki: Pki, log: Path, *extra: str) -> list[str]:
    return ["sdc", "serve", "--cert", str(pki.pump[0]), "--key", str(pki.pump[1]), "--ca", str(pki.ca),
            "--roles", str(pki.roles), "--log", str(log), *extra]


def fault_records(log: Path) -> list[dict[str, object]]:
    events = EventLog(log)
    try:
        assert events.verify().ok
        return [dict(r.payload) for r in events.records("fault")]
    finally:
        events.close()


@pytest.mark.req("REQ-FLT-001")
@pytest.mark.parametrize("kit", KITS, ids=lambda k: k.name)
def test_the_serial_setup_is_the_registry_driver_and_its_self_test_is_the_pumps_answer(kit: Kit) -> None:
    clock = WallClock()
    with kit.emulator() as emu:
        pump = pumps.serial_pump(kit.family, kit.config(emu.port))(clock)
        try:
            assert type(pump.driver) is kit.family.driver and pump.plant is None
            assert kit.family.version in pump.name and emu.port in pump.name
            assert pump.self_test()
            emu.inject(Fault("unplug"))  # the cable comes out: the next poll finds the link dead
            pump.driver.poll(clock.now_ms())
            assert not pump.self_test()
        finally:
            pump.driver.close()


def test_serve_refuses_a_pump_that_does_not_answer(pki: Pki, tmp_path: Path, handlers: None,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    master, slave = os.openpty()  # a port with nothing on it
    try:
        rc = main(serve_args(pki, tmp_path / "log.db", "--serial", os.ttyname(slave), "--driver", "harvard",
                             "--duration", "1"))
    finally:
        os.close(master)
        os.close(slave)
    out, err = capsys.readouterr()
    assert rc == 1 and out == ""  # no URL: nothing was served
    assert "cannot open the pump: the Harvard Apparatus Pump 11 Elite on /dev/" in err and "not served" in err


@pytest.mark.req("REQ-FLT-001")
def test_serve_refuses_a_pump_whose_self_test_failed(pki: Pki, tmp_path: Path, handlers: None,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The pump answers at open, then its cable is pulled before the core asks for the self-test."""
    real = pumps.serial_pump
    with HARVARD.emulator() as emu:

        def pulled(*args: object) -> Callable[[Clock], PumpSetup]:
            setup = real(*args)  # type: ignore[arg-type]

            def after_open(clock: Clock) -> PumpSetup:
                pump = setup(clock)
                emu.inject(Fault("unplug"))
                return pump

            return after_open

        monkeypatch.setattr(pumps, "serial_pump", pulled)
        log = tmp_path / "log.db"
        rc = main(serve_args(pki, log, "--serial", emu.port, "--driver", "harvard", "--duration", "1"))
        assert not emu.truth().moving
    out, err = capsys.readouterr()
    assert rc == 1 and out == "" and "failed its self-test" in err and "not served" in err
    assert "self_test_failed" in [f["fault"] for f in fault_records(log)]


@pytest.mark.req("REQ-SEC-005", "REQ-DRV-001")
@pytest.mark.parametrize("kit", KITS, ids=lambda k: k.name)
def test_serve_drives_the_family_named_by_driver_over_a_pty(kit: Kit, pki: Pki, tmp_path: Path) -> None:
    """Serve, probe, start remotely: the emulated pump moves; SIGTERM: serve ends and the pump is stopped."""
    program, log = tmp_path / "program.toml", tmp_path / "log.db"
    program.write_text(PROGRAM, encoding="utf-8")
    with kit.emulator() as emu:
        cmd = [sys.executable, "-m", "controller.cli", *serve_args(
            pki, log, "--serial", emu.port, "--driver", kit.name, "--program", str(program), "--duration", "300")]
        server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None and server.stderr is not None
            url = server.stdout.readline().strip()
            assert url.startswith("https://127.0.0.1:"), server.stderr.read()
            with PumpConsumer(url, contexts(*pki.clinician, pki.ca), timeout_s=30) as c:
                summary = c.summary()  # what pumpctl sdc probe prints
                assert "state: READY" in summary and "programmed rate: 36" in summary
                assert not emu.truth().moving
                assert c.activate("op.start").finished
                wait_for(lambda: emu.truth().moving, timeout_s=30)
                wait_for(lambda: c.value("m.state") == "RUNNING" and c.value("m.vol.infused") != Decimal(0),
                         timeout_s=30)
            server.send_signal(signal.SIGTERM)  # while running: serve must leave the pump stopped
            assert server.wait(timeout=60) == 0
            err = server.stderr.read()
        finally:
            server.kill()
            server.wait()
        assert not emu.truth().moving
        if kit is NE1000:
            assert emu.pump.alarm is None  # type: ignore[attr-defined]  # stopped by STP, not by its safe mode
    assert f"pump: {kit.family.title} (firmware {kit.family.version}) on {emu.port}" in err
    events = EventLog(log)
    try:
        assert events.verify().ok
        call = [dict(r.payload) for r in events.records("remote_call")][-1]
        assert call["operation"] == "op.start" and call["accepted"] is True and call["actor"] == "clinician"
    finally:
        events.close()
