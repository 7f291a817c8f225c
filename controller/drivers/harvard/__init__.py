"""The Harvard Apparatus Pump 11 Elite / PHD Ultra ("Ultra" command set): table, framing, link, driver, emulator.

``protocol`` holds every wire fact with its source; ``framing`` and ``link`` carry one command and
its reply; ``config`` and ``driver`` are the ``PumpDriver``; ``firmware`` (no I/O) and ``emulator``
(a pty) are the simulated pump the tests and ``pumpctl emulate --model harvard-elite`` use.
"""
