"""Coverage-guided fuzzing of the Harvard Ultra framing and reply parser with atheris (libFuzzer).

Run: ``python tests/drivers/fuzz_harvard_atheris.py -runs=20000`` (``test_atheris.py`` does, when
atheris is installed). Any exception other than the typed ``FrameError``/``ReplyError``, or a
decoder holding more than ``MAX_REPLY`` bytes, is a crash that libFuzzer reports.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from controller.drivers.errors import FrameError, ReplyError
    from controller.drivers.harvard import framing
    from controller.drivers.harvard import protocol as P


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    cut = fdp.ConsumeIntInRange(0, 64)
    raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    dec = framing.ReplyDecoder()
    for chunk in (raw[:cut], raw[cut:]):
        for item in dec.feed(chunk):
            if isinstance(item, bytes):
                try:
                    reply = P.parse_reply(item)
                    for line in reply.lines:
                        for parse in (P.parse_volume, P.parse_rate, P.parse_diameter):
                            with contextlib.suppress(ReplyError):
                                parse(line)
                except ReplyError:
                    pass
            elif not isinstance(item, FrameError):
                raise TypeError(f"decoder returned {type(item).__name__}")
        if dec.pending > framing.MAX_REPLY:
            raise AssertionError(f"decoder holds {dec.pending} bytes")
    commands = framing.CommandDecoder()
    for item in commands.feed(raw):
        if not isinstance(item, (bytes, FrameError)):
            raise TypeError(f"command decoder returned {type(item).__name__}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
