"""Pump mechanisms behind one split-phase protocol (``controller.drivers.base``).

The simulated plant (``sim*``), and two serial syringe-pump families, each in its own package
(``ne1000/``, ``harvard/``) on shared parts: ``serial_driver`` (the driver's life), ``serial_link``
(wire errors, link faults, the byte layer), ``odometer``, ``provenance`` (protocol tables),
``syringe`` and ``pty_emulator`` (the emulated mechanism and its pty), ``registry`` (by name).
"""
