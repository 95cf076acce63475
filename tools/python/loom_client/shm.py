"""ShmRing: the batches of `loom stream --shm NAME`, read in place from the shared-memory ring
/dev/shm/NAME as numpy views (no copies, no socket). docs/batch-stream.md has the layout."""

import mmap
import os
import sys
import time
from typing import Optional, Tuple

import numpy as np

from .client import LoomError

MAGIC = b"LOOMRNG1"
VERSION = 1
HEADER_BYTES = 4096
# Header offsets (docs/batch-stream.md, "Shared-memory ring").
_VERSION, _HEADER_BYTES, _SLOT_COUNT, _SLOT_HEADER_BYTES, _SLOT_BYTES = 8, 12, 16, 20, 24
_BATCH, _HEIGHT, _WIDTH, _CHANNELS, _LABELS_OFFSET = 32, 36, 40, 44, 48
_EPOCH, _BATCH_COUNT, _SAMPLE_COUNT, _PRODUCER_PID, _CONSUMER_PID, _START_CURSOR = 56, 64, 72, 80, 84, 96
_PRODUCED, _CONSUMED, _STATE, _CONSUMER_CLOSED, _ERROR_BYTES, _ERROR = 192, 256, 320, 324, 328, 512
# Slot offsets.
_SEQ, _COUNT, _FLAGS, _INDEX, _POSITION_AFTER, _CURSOR, _PIXELS = 0, 8, 12, 16, 24, 64, 128
RUNNING, DONE, FAILED, ABANDONED = 0, 1, 2, 3


def _alive(pid: int) -> bool:
    """True while process `pid` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


class ShmRing:
    """The consumer of one shared-memory ring written by `loom stream --shm NAME`.

    Iterating yields `(pixels, labels)`: pixels a uint8 (n, height, width, channels) NHWC array,
    labels an int64 (n,) array, both **views into the shared memory**. A view is valid until the
    next iteration step (or `release()` / `close()`): then its slot goes back to the producer,
    which overwrites it. Copy (`pixels.copy()`, or a `torch.from_numpy(pixels).to(device)`) what
    you keep longer.

    `cursor` is the resume token after the last batch yielded; `loom stream --resume CURSOR`
    continues from there. The ring is one consumer's: run one `loom stream --shm` per rank.

    Args:
        name: the ring's name (the file /dev/shm/NAME).
        open_timeout: seconds to wait for the producer to create the ring.
        timeout: seconds to wait for any one batch (None: as long as the producer lives).
        unlink: remove /dev/shm/NAME on close (the ring is single-use).
    """

    def __init__(self, name: str, open_timeout: float = 30.0, timeout: Optional[float] = None, unlink: bool = True):
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"shared-memory name {name!r} must be a plain file name")
        if sys.byteorder != "little":
            raise LoomError(0, "the shared-memory ring is little-endian; this machine is not")
        self.name, self.path, self.timeout, self._unlink = name, "/dev/shm/" + name, timeout, unlink
        self._mm = None
        self._fd = None
        deadline = time.monotonic() + open_timeout
        while True:
            try:
                if os.path.getsize(self.path) >= HEADER_BYTES:
                    fd = os.open(self.path, os.O_RDWR)
                    mm = mmap.mmap(fd, 0)
                    if mm[:8] == MAGIC:
                        self._fd, self._mm = fd, mm
                        break
                    mm.close()
                    os.close(fd)
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                raise LoomError(0, f"no shared-memory ring at {self.path} after {open_timeout} s (is `loom stream --shm {name}` running?)")
            time.sleep(0.01)
        # Word views of the header: numpy reads and writes an aligned 8-byte word with one load or
        # store, so the producer never sees (or shows us) half a counter.
        u32 = np.frombuffer(self._mm, np.uint32, count=HEADER_BYTES // 4)
        u64 = np.frombuffer(self._mm, np.uint64, count=HEADER_BYTES // 8)
        self._u32, self._u64 = u32, u64
        self._next, self._held, self._finished = 0, None, False
        if u32[_VERSION // 4] != VERSION:
            version = int(u32[_VERSION // 4])
            self._finished = True  # not ours to stop
            self._unlink = False
            self.close()
            raise LoomError(0, f"{self.path}: ring version {version}, this client reads {VERSION}")
        self.slot_count = int(u32[_SLOT_COUNT // 4])
        self.slot_bytes = int(u64[_SLOT_BYTES // 8])
        self._header_bytes = int(u32[_HEADER_BYTES // 4])
        self._pixels_at = int(u32[_SLOT_HEADER_BYTES // 4])
        self.batch, self.height, self.width, self.channels = (int(u32[o // 4]) for o in (_BATCH, _HEIGHT, _WIDTH, _CHANNELS))
        self._labels_at = int(u64[_LABELS_OFFSET // 8])
        self.epoch = int(u64[_EPOCH // 8])
        self.batch_count = int(u64[_BATCH_COUNT // 8])
        self.sample_count = int(u64[_SAMPLE_COUNT // 8])
        self.producer_pid = int(u32[_PRODUCER_PID // 4])
        self.cursor = self._text(_START_CURSOR, 64)
        self.position_after = None
        self.last_of_epoch = False
        u32[_CONSUMER_PID // 4] = os.getpid()

    def _text(self, offset: int, size: int) -> str:
        return bytes(self._mm[offset:offset + size]).split(b"\0", 1)[0].decode("utf-8", "replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return self

    def __len__(self) -> int:
        return self.batch_count

    def _slot(self, k: int) -> int:
        return self._header_bytes + (k % self.slot_count) * self.slot_bytes

    def release(self) -> None:
        """Hands the batch last yielded back to the producer; its views are invalid from now on."""
        if self._held is None:
            return
        k, self._held = self._held, None
        seq = int(np.frombuffer(self._mm, np.uint64, count=1, offset=self._slot(k) + _SEQ)[0])
        if seq != 2 * k + 2:
            raise LoomError(0, f"{self.path}: slot of batch {k} was rewritten while held (sequence {seq}): a second consumer?")
        self._u64[_CONSUMED // 8] = k + 1

    def __next__(self) -> Tuple[np.ndarray, np.ndarray]:
        if self._mm is None:
            raise StopIteration
        self.release()
        k = self._next
        pause, started = 20e-6, time.monotonic()
        while int(self._u64[_PRODUCED // 8]) <= k:
            state = int(self._u32[_STATE // 4])
            if state != RUNNING and int(self._u64[_PRODUCED // 8]) <= k:  # produced is final once state is set
                if state == DONE:
                    self._finished = True
                    raise StopIteration
                if state == FAILED:
                    message = self._text(_ERROR, int(self._u32[_ERROR_BYTES // 4]))
                    self._finished = True
                    raise LoomError(0, f"loom stream failed (resume from {self.cursor}): {message}")
                raise LoomError(0, f"{self.path}: the producer stopped (state {state})")
            if not _alive(self.producer_pid):
                raise LoomError(0, f"the producer (pid {self.producer_pid}) of {self.path} exited before the end "
                                   f"(resume from {self.cursor})")
            if self.timeout is not None and time.monotonic() - started > self.timeout:
                raise LoomError(0, f"no batch {k} in {self.path} within {self.timeout} s")
            time.sleep(pause)
            pause = min(pause * 2, 2e-3)
        slot = self._slot(k)
        seq = int(np.frombuffer(self._mm, np.uint64, count=1, offset=slot + _SEQ)[0])
        if seq != 2 * k + 2:
            raise LoomError(0, f"{self.path}: slot of batch {k} has sequence {seq}, not {2 * k + 2} (torn or stale)")
        n = int(np.frombuffer(self._mm, np.uint32, count=1, offset=slot + _COUNT)[0])
        flags = int(np.frombuffer(self._mm, np.uint32, count=1, offset=slot + _FLAGS)[0])
        pixels = np.frombuffer(self._mm, np.uint8, count=n * self.height * self.width * self.channels,
                               offset=slot + self._pixels_at).reshape(n, self.height, self.width, self.channels)
        labels = np.frombuffer(self._mm, "<i8", count=n, offset=slot + self._labels_at)
        self.position_after = int(np.frombuffer(self._mm, np.uint64, count=1, offset=slot + _POSITION_AFTER)[0])
        self.cursor = self._text(slot + _CURSOR, 64)
        self.last_of_epoch = bool(flags & 1)
        self._held, self._next = k, k + 1
        return pixels, labels

    def close(self) -> None:
        """Releases the held batch, tells a producer still running that nobody reads any more,
        unmaps, and (with unlink=True) removes /dev/shm/NAME."""
        if self._mm is None:
            return
        try:
            self.release()
        finally:
            if not self._finished:
                self._u32[_CONSUMER_CLOSED // 4] = 1
            self._u32 = self._u64 = None
            try:
                self._mm.close()
            except BufferError:
                pass  # views handed out are still alive; the mapping goes when they do
            self._mm = None
            os.close(self._fd)
            if self._unlink:
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
