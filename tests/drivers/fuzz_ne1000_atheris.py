"""Coverage-guided fuzzing of the NE-1000 framing and reply parser with atheris (libFuzzer).

Run: ``python tests/drivers/fuzz_ne1000_atheris.py -runs=20000`` (``test_atheris.py`` does,
when atheris is installed). Any exception other than the typed ``FrameError``/``ReplyError``,
or a decoder holding more than ``MAX_PENDING`` bytes, is a crash that libFuzzer reports.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from controller.drivers.errors import FrameError, ReplyError
    from controller.drivers.ne1000 import framing as F
    from controller.drivers.ne1000 import protocol as P


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    cut = fdp.ConsumeIntInRange(0, 64)
    raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    for make in (F.SafeDecoder, F.BasicReplyDecoder, F.BasicCommandDecoder):
        dec = make()
        for chunk in (raw[:cut], raw[cut:]):
            for item in dec.feed(chunk):
                if isinstance(item, bytes):
                    try:
                        reply = P.parse_reply(item)
                        if reply.data:
                            P.parse_dispensed(reply.data)
                    except ReplyError:
                        pass
                elif not isinstance(item, FrameError):
                    raise TypeError(f"decoder returned {type(item).__name__}")
            if dec.pending > F.MAX_PENDING:
                raise AssertionError(f"decoder holds {dec.pending} bytes")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
