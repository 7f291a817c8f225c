"""What an SDC session drives: the simulated pump, or a serial pump family of the drivers registry.

Theory of operation
-------------------
A ``Session`` boots from a *setup*: a function of the session's clock that returns a
``PumpSetup`` (the driver, its self-test, the simulated plant if there is one). ``simulated``
is the simulated pump (``SimPump``) with its own self-test. ``serial_pump(family, config)`` is a
family of ``controller.drivers.registry`` (``ne1000``, ``harvard``), built from the registry
as ``pumpctl run`` builds it (``family.driver(config)``) and opened: the pump answers its
firmware query, is stopped, its syringe written and read back, its counters cleared and its
own host-silence stop armed (NE-1000 safe mode; a Harvard leg bound).

Its self-test (``answered``) is the pump's answer, taken when the core asks for it: the boot's
first control period has polled the pump once by then, so it passes only if the pump answered
at open (a firmware version) and its link has not been lost since. A failed self-test goes to
the core as ``self_test`` with ``flag=False``: the table latches FAILED with the
``self_test_failed`` alarm (REQ-FLT-001), and ``pumpctl sdc serve`` refuses to serve it.

Rules
1. A pump that does not answer at open is not driven: ``serial_pump``'s setup closes the driver
   and raises ``PumpUnavailable``, so the session does not boot and nothing moves.
2. The self-test is never assumed: a driver that cannot say whether its link is up (no ``lost``
   flag) fails it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from controller.drivers.clocks import Clock
from controller.drivers.sim import SimPump
from controller.errors import PumpError
from controller.sdc.session import PumpSetup

if TYPE_CHECKING:
    from controller.drivers.registry import Family, HardwareConfig, HardwareDriver


class PumpUnavailable(PumpError):
    """The serial pump did not answer when it was opened (rule 1)."""


def simulated(clock: Clock) -> PumpSetup:
    plant = SimPump(clock=clock)
    return PumpSetup(plant, plant.self_test, plant)


def answered(driver: HardwareDriver) -> bool:
    """The serial pump's self-test: it gave its firmware version at open and its link is up (rule 2)."""
    return bool(driver.version) and getattr(driver, "lost", True) is False


def serial_pump(family: Family, config: HardwareConfig) -> Callable[[Clock], PumpSetup]:
    """The setup of a serial pump of ``family`` on ``config.port`` (see the module docstring)."""

    def setup(clock: Clock) -> PumpSetup:
        driver = family.driver(config)
        try:
            driver.open(clock.now_ms())
        except Exception as exc:
            driver.close()
            raise PumpUnavailable(f"the {family.title} on {config.port} did not answer: {type(exc).__name__}: "
                                  f"{exc}") from exc
        return PumpSetup(driver, lambda: answered(driver), None,
                         f"{family.title} (firmware {driver.version or '?'}) on {config.port}")

    return setup
