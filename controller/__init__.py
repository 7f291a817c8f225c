"""pumpctl: a safety-verified infusion pump controller (research software, not a certified
medical device). The pure core is ``controller.core.machine.Controller``; see README.md."""

from controller.core.events import Actor, Event, ev, tick
from controller.core.limits import Limits
from controller.core.machine import Controller, Step
from controller.core.program import Program

__all__ = ["Actor", "Controller", "Event", "Limits", "Program", "Step", "ev", "tick"]
__version__ = "0.1.0"
