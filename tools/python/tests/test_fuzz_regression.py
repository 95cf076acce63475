"""Responses the `batch-frame` fuzz target (Fuzz/python/batch_frame_fuzz.py) broke the stream
reader with, served by a real HTTP server on loopback. Each must end in LoomError, never in a
numpy, decode or type error from inside the reader. The fuzzer's raw finds are replayed too
(Fuzz/crashes/batch-frame/)."""

import http.server
import pathlib
import struct
import threading

import pytest

from loom_client import LoomClient, LoomError
from loom_client.client import HEADER, MAGIC

CRASHES = pathlib.Path(__file__).resolve().parents[3] / "Fuzz" / "crashes" / "batch-frame"
# What every request below asks for (the fuzz target asks for the same).
BATCH, SIZE = 4, 2


def frame(n, height=SIZE, width=SIZE, channels=3, flags=0, pixel_bytes=None, cursor=b"loom1.0.0.1.0.1"):
    """A frame header, then (for a frame small enough to send) its pixels and labels."""
    if pixel_bytes is None:
        pixel_bytes = n * height * width * channels
    head = HEADER.pack(MAGIC, HEADER.size, n, height, width, channels, flags, 0, n, pixel_bytes, n * 8, cursor)
    if flags & 4:
        return head + b"the loader failed"
    if pixel_bytes > 1 << 16 or n > 1 << 10:
        return head
    return head + bytes(pixel_bytes) + struct.pack(f"<{n}q", *range(n))


END = frame(0, 0, 0, 3, flags=2, pixel_bytes=0)

CASES = {
    # UnicodeDecodeError
    "cursor is not ASCII": (frame(1, cursor=b"loom1.\x80\xff") + END, "not ASCII"),
    # ValueError: array is too big (and below numpy's limit, an allocation of terabytes)
    "shape beyond any allocation": (frame(1 << 31, 1 << 31, 1 << 31, 3, pixel_bytes=0), "asked for"),
    "terabytes of pixels": (frame(1 << 20, 1 << 20, 1 << 20), "asked for"),
    "more samples than asked": (frame(BATCH + 1) + END, "asked for"),
    "other side than asked": (frame(1, SIZE + 1, SIZE + 1) + END, "asked for"),
    # TypeError: memoryview: cannot cast view with zeros in shape or strides
    "batch frame with no samples": (frame(0) + END, "asked for"),
    # OverflowError reading a close-delimited body with an 8-exabyte count
    "error message of 2^63 bytes": (frame(0, 0, 0, 3, flags=4, pixel_bytes=1 << 63), "message is"),
}


class Hostile(http.server.BaseHTTPRequestHandler):
    """Answers GET /v1/batches with `server.body`, close-delimited (no Content-Length)."""

    protocol_version = "HTTP/1.0"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/x-loom-batches")
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def stream(server, body):
    server.body = body
    client = LoomClient(f"http://127.0.0.1:{server.server_address[1]}", timeout=10)
    return list(client.batches("fuzz:train", batch=BATCH, size=SIZE, retries=0))


def test_well_formed_frames_still_read(hostile):
    batches = stream(hostile, frame(2) + frame(1, flags=1) + END)
    assert [b.pixels.shape for b in batches] == [(2, SIZE, SIZE, 3), (1, SIZE, SIZE, 3)]
    assert batches[1].last_of_epoch and batches[1].labels.tolist() == [0]


@pytest.mark.parametrize("name", CASES)
def test_hostile_frame_is_a_loom_error(hostile, name):
    body, reason = CASES[name]
    with pytest.raises(LoomError, match=reason):
        stream(hostile, body)


@pytest.mark.parametrize("path", sorted(CRASHES.iterdir()), ids=lambda p: p.name)
def test_fuzzer_finds_are_loom_errors(hostile, path):
    with pytest.raises(LoomError):
        stream(hostile, path.read_bytes())
