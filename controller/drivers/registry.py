"""The serial pump families the controller drives, by name: config, driver, firmware, emulator.

Theory of operation
-------------------
``pumpctl run --driver NAME`` and ``pumpctl emulate --model MODEL`` (and the driver conformance
suite) find everything about a pump family here: how to build its configuration from the
command line's common options, its driver, its simulated firmware and its pty emulator, and the
name of its own host-silence setting (the NE-1000's safe-mode time-out, the Harvard's leg bound).
Adding a family is adding one ``Family`` row; nothing else dispatches on a family's name.

Rules
1. Importing this module imports no serial library (pyserial is opened by ``driver.open``).
2. A family's ``configure`` validates like its config class does (``ConfigurationError``
   naming the field).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from controller.drivers.base import PumpDriver, Reply
from controller.drivers.harvard.config import HarvardConfig
from controller.drivers.harvard.driver import HarvardDriver
from controller.drivers.harvard.emulator import HarvardEmulator
from controller.drivers.harvard.firmware import VERSION as HARVARD_VERSION
from controller.drivers.harvard.firmware import HarvardFirmware
from controller.drivers.ne1000.config import NE1000Config
from controller.drivers.ne1000.driver import NE1000Driver
from controller.drivers.ne1000.emulator import EmulatorServer
from controller.drivers.ne1000.firmware import VERSION as NE1000_VERSION
from controller.drivers.ne1000.firmware import NE1000Firmware
from controller.drivers.pty_emulator import Fault, Firmware, PtyServer


class HardwareDriver(PumpDriver, Protocol):
    version: str

    def open(self, now_ms: int = 0) -> HardwareDriver: ...

    def relieve(self, max_vu: int) -> Reply: ...


class HardwareConfig(Protocol):
    @property
    def port(self) -> str: ...

    def stop_bounds(self, period_ms: int) -> tuple[int, int | None]: ...


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # --driver
    model: str  # --model of pumpctl emulate
    title: str
    version: str  # what the emulated firmware answers to its version query
    silence_option: str  # the config field of the pump's own host-silence stop
    configure: Callable[..., HardwareConfig]
    driver: Callable[..., HardwareDriver]
    firmware: Callable[[int, Fraction], Firmware]  # (address, syringe diameter in mm)
    emulator: Callable[..., PtyServer]

    def silence_ms(self, config: object) -> int:
        """The pump's own stop after host silence, in ms (0: none but the volume target)."""
        value = getattr(config, self.silence_option)
        return int(value) * (1_000 if self.silence_option.endswith("_s") else 1)


def _ne1000_emulator(pump: Firmware | None = None, **kw: object) -> PtyServer:
    assert pump is None or isinstance(pump, NE1000Firmware)
    return EmulatorServer(pump, **kw)  # type: ignore[arg-type]


def _harvard_emulator(pump: Firmware | None = None, **kw: object) -> PtyServer:
    assert pump is None or isinstance(pump, HarvardFirmware)
    return HarvardEmulator(pump, **kw)  # type: ignore[arg-type]


FAMILIES: dict[str, Family] = {
    "ne1000": Family("ne1000", "ne1000", "New Era NE-1000", NE1000_VERSION, "safe_timeout_s",
                     NE1000Config, NE1000Driver, lambda a, d: NE1000Firmware(a, d), _ne1000_emulator),
    "harvard": Family("harvard", "harvard-elite", "Harvard Apparatus Pump 11 Elite", HARVARD_VERSION, "leg_ms",
                      HarvardConfig, HarvardDriver, lambda a, d: HarvardFirmware(a, d), _harvard_emulator),
}
MODELS: dict[str, Family] = {f.model: f for f in FAMILIES.values()}
__all__ = ["FAMILIES", "MODELS", "Family", "Fault", "HardwareConfig", "HardwareDriver"]
