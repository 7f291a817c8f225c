"""pumpctl: a safety-verified infusion pump controller (research software, not a certified
medical device). The pure core is ``controller.core.Controller``; see README.md."""

from controller.core import Controller, Step
from controller.events import Actor, Event, ev, tick
from controller.limits import Limits
from controller.program import Program

__all__ = ["Actor", "Controller", "Event", "Limits", "Program", "Step", "ev", "tick"]
__version__ = "0.1.0"
