"""The New Era NE-1000-family syringe pump: protocol table, framing, link, driver, firmware emulator.

``protocol`` holds every wire fact with its source; ``framing`` and ``link`` carry one command and
its reply; ``config`` and ``driver`` are the ``PumpDriver``; ``firmware`` (no I/O) and ``emulator``
(a pty) are the simulated pump the tests and ``pumpctl emulate`` use.
"""
