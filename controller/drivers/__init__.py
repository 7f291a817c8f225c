"""Pump mechanisms behind one split-phase protocol (``controller.drivers.base``)."""
