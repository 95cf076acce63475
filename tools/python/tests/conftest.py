"""A real `loom serve` for the tests: LOOM_BIN (default <repo>/.build/debug/loom) on a free
loopback port, over a temporary store filled with Debian's Fashion-MNIST (`loom dataset`)."""

import json
import os
import pathlib
import signal
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
LOOM = os.environ.get("LOOM_BIN", str(REPO / ".build/debug/loom"))
TOKEN = "python-test-token"


def loom(*args, check=True):
    env = dict(os.environ, CI="1")
    env.pop("LOOM_STORE", None)
    return subprocess.run([LOOM, *args], check=check, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    if not os.access(LOOM, os.X_OK):
        pytest.fail(f"no loom binary at {LOOM}: build it (swift build) or set LOOM_BIN")
    root = tmp_path_factory.mktemp("loom")
    data, store = root / "data", root / "store"
    made = loom("dataset", "fashion-mnist", str(data), "--train-per-class", "4", "--val-per-class", "2", check=False)
    if made.returncode != 0:
        pytest.fail(f"loom dataset fashion-mnist failed (Debian's dataset-fashion-mnist installed?): {made.stderr}")
    loom("ingest", str(data), "--dataset", "fmnist", "--store", str(store), "--json")
    return store


class Server:
    """`loom serve` on `store` with the test token, on a free loopback port, until stopped."""

    def __init__(self, store, scratch):
        token_file = scratch / "token"
        token_file.write_text(TOKEN + "\n")
        self.log = open(scratch / "serve.log", "w")
        env = dict(os.environ, CI="1")
        self.process = subprocess.Popen([LOOM, "serve", "--store", str(store), "--port", "0", "--json", "--workers", "2",
                                         "--token-file", str(token_file)], stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(10)
            pytest.fail(f"loom serve did not start: {open(self.log.name).read()}")
        self.url = json.loads(line)["listening"]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            assert self.process.wait(30) == 0
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.fixture(scope="session")
def server(store, tmp_path_factory):
    running = Server(store, tmp_path_factory.mktemp("serve"))
    yield {"url": running.url, "store": store, "token": TOKEN}
    running.stop()
