"""A server at its --max-streams: the client hears 503 + Retry-After, waits and gets its stream."""

import http.client
import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse

import pytest

from loom_client import LoomClient, ServerBusy
from conftest import LOOM


@pytest.fixture()
def one_stream_server(store, tmp_path):
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen([LOOM, "serve", "--store", str(store), "--port", "0", "--json", "--workers", "1",
                                "--max-streams", "1"], stdout=subprocess.PIPE, stderr=log, text=True,
                               env=dict(os.environ, CI="1"))
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        pytest.fail(f"loom serve did not start: {open(log.name).read()}")
    yield json.loads(line)["listening"]
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()


def hold_a_stream(url):
    """Opens a stream far larger than the socket buffers and reads only its head: the server's one place stays taken."""
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    connection.request("GET", "/v1/batches?selection=fmnist:train&batch=4&size=256&epoch_length=400")
    response = connection.getresponse()
    assert response.status == 200
    return connection


def refusals(url):
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("loom_http_requests_total{") and 'route="/v1/batches"' in line and 'status="503"' in line)


def test_busy_server_answers_503_with_retry_after(one_stream_server):
    holder = hold_a_stream(one_stream_server)
    try:
        with pytest.raises(ServerBusy) as busy:
            next(LoomClient(one_stream_server).batches("fmnist:train", batch=4, size=8, busy_timeout=0))
        assert busy.value.status == 503 and busy.value.retry_after > 0 and "--max-streams" in busy.value.message
    finally:
        holder.close()


def test_client_waits_for_a_free_stream(one_stream_server):
    holder = hold_a_stream(one_stream_server)
    results = {}

    def consume():
        try:
            results["batches"] = list(LoomClient(one_stream_server).batches("fmnist:train", batch=8, size=8))
        except Exception as error:  # reported below
            results["error"] = error

    thread = threading.Thread(target=consume)
    thread.start()
    deadline = time.monotonic() + 60
    while refusals(one_stream_server) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    holder.close()  # the place frees; the waiting client's next try gets the stream
    thread.join(120)
    assert "error" not in results, results.get("error")
    assert len(results["batches"]) == 5
