"""Pump mechanisms behind one split-phase protocol (``controller.drivers.base``).

The simulated plant (``sim*``), and two serial syringe-pump families, each in its own package
(``ne1000/``, ``harvard/``) on shared parts: ``errors`` (wire errors and link faults, every one a
``PumpError``), ``serial_driver`` (the driver's life), ``serial_link`` (the bounded byte layer),
``odometer``, ``provenance`` (protocol tables), ``syringe`` and ``pty_emulator`` (the emulated
mechanism and its pty), ``registry`` (by name).
"""
