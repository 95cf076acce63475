"""Atheris target `batch-frame`: the Python client's reader of GET /v1/batches frames
(tools/python/loom_client/client.py, docs/batch-stream.md), fed a response body from the fuzzer.

A clean outcome is batches, or LoomError / StreamCut: anything else escaping `batches()` (a
numpy, struct or decode error, a huge allocation) is a finding. Run by tools/fuzz in .venv-fuzz.
"""

import io
import os
import sys

import atheris

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "python"))

with atheris.instrument_imports():
    from loom_client import client as loom

# What the harness asks for; the frames the server sends for it hold at most BATCH samples of
# SIZE x SIZE x 3 (the seeds in Fuzz/corpus/batch-frame match).
BATCH, SIZE = 4, 2


class Body:
    """The part of http.client.HTTPResponse the stream reader uses, over fixed bytes."""

    status = 200

    def __init__(self, data: bytes):
        self._stream = io.BytesIO(data)

    def read(self, count=None):
        return self._stream.read(count)

    def readinto(self, view):
        return self._stream.readinto(view)


class Connection:
    def close(self):
        pass


def one_input(data: bytes) -> None:
    client = loom.LoomClient("http://fuzz.invalid")
    client._open = lambda method, path, params=None, **_: (Connection(), Body(data))
    try:
        for batch in client.batches("fuzz:train", batch=BATCH, size=SIZE, retries=0):
            assert batch.pixels.shape[0] == batch.labels.shape[0] <= BATCH, batch.pixels.shape
            assert batch.pixels.shape[1:] == (SIZE, SIZE, 3), batch.pixels.shape
            assert isinstance(batch.cursor, str)
    except (loom.LoomError, loom.StreamCut):
        pass


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
