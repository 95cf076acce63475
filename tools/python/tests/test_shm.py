"""ShmRing against a real `loom stream --shm`: the same batches as `loom stream --json`, backpressure,
early close, a producer that dies."""

import hashlib
import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from loom_client import LoomError, ShmRing
from conftest import LOOM, loom

ARGS = ["--selection", "fmnist:train", "--batch", "7", "--size", "28", "--augment", "train", "--seed", "5", "--epoch", "1"]


def ring_name():
    return f"loom-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def producer(store, name, *extra):
    env = dict(os.environ, CI="1")
    env.pop("LOOM_STORE", None)
    return subprocess.Popen([LOOM, "stream", "--store", str(store), "--json", "--shm", name, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def expected_lines(store, args):
    run = loom("stream", "--store", str(store), "--json", *args)
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    return lines[:-1], lines[-1]


def checksum(pixels):
    return hashlib.sha256(pixels.tobytes()).hexdigest()[:16]


def test_ring_matches_loom_stream(store):
    lines, summary = expected_lines(store, ARGS)
    name = ring_name()
    process = producer(store, name, *ARGS, "--shm-slots", "2")
    seen = []
    with ShmRing(name) as ring:
        assert (ring.batch, ring.height, ring.width, ring.channels, ring.epoch) == (7, 28, 28, 3, 1)
        assert len(ring) == len(lines) == 6 and ring.cursor.startswith("loom2.5.1.0.0.1.")
        for pixels, labels in ring:
            assert pixels.shape == (len(labels), 28, 28, 3) and pixels.dtype.name == "uint8" and labels.dtype.name == "int64"
            assert not pixels.flags.owndata, "a view into the ring, not a copy"
            seen.append((checksum(pixels), labels.tolist(), ring.cursor, ring.last_of_epoch))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert [s[0] for s in seen] == [line["checksum"] for line in lines]
    assert [s[1] for s in seen] == [line["labels"] for line in lines]
    assert [s[3] for s in seen] == [False] * 5 + [True]
    assert seen[-1][2] == summary["resume"]
    produced = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert produced[:-1] == lines, "--shm keeps the JSON lines"
    assert produced[-1]["shm"] == name and produced[-1]["consumer_closed"] is False
    assert not os.path.exists("/dev/shm/" + name), "the reader removes the ring once read"


def test_a_slow_reader_holds_the_producer_back(store):
    """One slot: the producer must wait for every release; a slot overwritten early would show up
    as a wrong checksum or a sequence error."""
    args = ["--selection", "fmnist:train", "--batch", "4", "--size", "16", "--augment", "eval", "--seed", "3"]
    lines, _ = expected_lines(store, args)
    name = ring_name()
    process = producer(store, name, *args, "--shm-slots", "1")
    got = []
    with ShmRing(name) as ring:
        for pixels, labels in ring:
            time.sleep(0.03)  # the producer has had time to overwrite, were it allowed to
            produced, consumed = int(ring._u64[192 // 8]), int(ring._u64[256 // 8])
            assert produced - consumed <= 1
            got.append(checksum(pixels))
    assert process.wait(60) == 0
    assert got == [line["checksum"] for line in lines] and len(got) == 10


def test_an_early_close_stops_the_producer(store):
    name = ring_name()
    process = producer(store, name, "--selection", "fmnist:train", "--batch", "2", "--size", "8", "--shm-slots", "1")
    ring = ShmRing(name)
    pixels, _ = next(ring)
    keep = pixels.copy()
    ring.close()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["consumer_closed"] is True and summary["batches"] < 20
    assert keep.shape == (2, 8, 8, 3)
    assert not os.path.exists("/dev/shm/" + name)


def test_a_dead_producer_is_an_error_not_a_hang(store):
    name = ring_name()
    process = producer(store, name, "--selection", "fmnist:train", "--batch", "2", "--size", "8", "--shm-slots", "1")
    with ShmRing(name, timeout=60) as ring:
        next(ring)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        with pytest.raises(LoomError) as error:
            for _ in ring:
                pass
        assert "exited before the end" in error.value.message and "loom2.0.0." in error.value.message
    assert not os.path.exists("/dev/shm/" + name)


def test_a_taken_name_is_refused(store):
    name = ring_name()
    open("/dev/shm/" + name, "wb").close()
    try:
        run = loom("stream", "--store", str(store), "--selection", "fmnist:train", "--shm", name, check=False)
        assert run.returncode != 0 and "already exists" in run.stderr
    finally:
        os.unlink("/dev/shm/" + name)
    bad = loom("stream", "--store", str(store), "--selection", "fmnist:train", "--shm", "a/b", check=False)
    assert bad.returncode != 0 and "plain file name" in bad.stderr
