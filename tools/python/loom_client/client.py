"""The JSON API and the binary batch stream of `loom serve`, over the standard library's http.client."""

import http.client
import json
import struct
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

# docs/batch-stream.md: the 128-byte little-endian frame header.
HEADER = struct.Struct("<8sIIIIIIQQQQ64s")
MAGIC = b"LOOMBAT1"
FLAG_LAST_OF_EPOCH, FLAG_END, FLAG_ERROR = 1, 2, 4
# Longest error message read from an error frame; a longer one is a broken stream.
MAX_ERROR_BYTES = 1 << 20


class LoomError(Exception):
    """An error answer of the server ({"error": ...}) or a broken stream."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


@dataclass
class Batch:
    pixels: np.ndarray  # uint8 (n, height, width, channels)
    labels: np.ndarray  # int64 (n,)
    epoch: int
    position_after: int
    cursor: str  # the resume token after this batch
    last_of_epoch: bool


class StreamCut(Exception):
    """The body ended (or the connection failed) before the end frame."""


class ServerBusy(LoomError):
    """503: the server is serving its `--max-streams` streams; `retry_after` is its advice in seconds."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(503, message)
        self.retry_after = retry_after


class LoomClient:
    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 60.0):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url.rstrip("/")
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.token = token
        self.timeout = timeout

    # -- plumbing

    def _connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=self.timeout)

    @staticmethod
    def _target(path: str, params: Optional[dict]) -> str:
        if not params:
            return path
        # quote(safe=""): '+' must arrive as a plus (selections use it), a space as %20.
        pairs = [f"{urllib.parse.quote(str(k), safe='')}={urllib.parse.quote(_text(v), safe='')}"
                 for k, v in params.items() if v is not None]
        return path + ("?" + "&".join(pairs) if pairs else "")

    def _open(self, method: str, path: str, params=None, body: Optional[bytes] = None, headers=None, auth=False):
        connection = self._connection()
        headers = dict(headers or {})
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        connection.request(method, self._target(path, params), body=body, headers=headers)
        return connection, connection.getresponse()

    def _request(self, method: str, path: str, params=None, body=None, headers=None, auth=False) -> bytes:
        connection, response = self._open(method, path, params, body, headers, auth)
        try:
            data = response.read()
            if response.status >= 400:
                raise LoomError(response.status, _error_message(data))
            return data
        finally:
            connection.close()

    def _json(self, path: str, params=None):
        return json.loads(self._request("GET", path, params))

    # -- reads

    def health(self) -> dict:
        return self._json("/healthz")

    def stats(self) -> dict:
        return self._json("/v1/stats")

    def datasets(self) -> list:
        return self._json("/v1/datasets")["datasets"]

    def classes(self, dataset: Optional[str] = None) -> list:
        return self._json("/v1/classes", {"dataset": dataset})["classes"]

    def images(self, dataset=None, split=None, class_=None, offset=0, limit=100) -> dict:
        return self._json("/v1/images", {"dataset": dataset, "split": split, "class": class_, "offset": offset, "limit": limit})

    def iter_images(self, dataset=None, split=None, class_=None, page=1000) -> Iterator[dict]:
        offset = 0
        while offset is not None:
            answer = self.images(dataset, split, class_, offset, page)
            yield from answer["images"]
            offset = answer["next_offset"]

    def blob(self, digest: str) -> bytes:
        return self._request("GET", f"/v1/blobs/{urllib.parse.quote(digest, safe='')}")

    def lineage(self, digest: str) -> dict:
        return self._json(f"/v1/lineage/{urllib.parse.quote(digest, safe='')}")

    def synthetic(self, caption_contains=None, strategy=None, class_=None, dataset=None, generator=None,
                  offset=0, limit=100) -> dict:
        return self._json("/v1/synthetic", {"caption_contains": caption_contains, "strategy": strategy, "class": class_,
                                            "dataset": dataset, "generator": generator, "offset": offset, "limit": limit})

    def runs(self, stage=None, status=None, offset=0, limit=100) -> dict:
        return self._json("/v1/runs", {"stage": stage, "status": status, "offset": offset, "limit": limit})

    def run(self, run_id: int) -> dict:
        return self._json(f"/v1/runs/{int(run_id)}")

    def run_metrics(self, run_id: int) -> dict:
        return self._json(f"/v1/runs/{int(run_id)}/metrics")

    def sql(self, query: str, limit: Optional[int] = None) -> dict:
        return self._json("/v1/sql", {"q": query, "limit": limit})

    # -- writes (need the token)

    def ingest(self, dataset: str, class_: str, files, split: str = "train") -> dict:
        """Uploads files (paths, or (filename, bytes) pairs) into dataset/split/class; returns the ingest summary."""
        boundary = f"loom-client-{uuid.uuid4().hex}"
        body = bytearray()
        for item in files:
            if isinstance(item, (str, bytes)) or hasattr(item, "__fspath__"):
                import os
                name = os.path.basename(os.fspath(item))
                with open(item, "rb") as handle:
                    data = handle.read()
            else:
                name, data = item
            quoted = str(name).replace('"', '\\"')
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{quoted}\"\r\n"
                     f"Content-Type: application/octet-stream\r\n\r\n").encode()
            body += data + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        return json.loads(self._request("POST", "/v1/ingest", {"dataset": dataset, "split": split, "class": class_},
                                        bytes(body), {"Content-Type": f"multipart/form-data; boundary={boundary}"}, auth=True))

    def import_captions(self, dataset: str, captioner: str, lines) -> dict:
        """Imports captions: an iterable of {"path"|"digest", "caption"} dicts, or JSON-lines text."""
        text = lines if isinstance(lines, (str, bytes)) else "\n".join(json.dumps(line) for line in lines)
        data = text.encode() if isinstance(text, str) else text
        return json.loads(self._request("POST", "/v1/captions", {"dataset": dataset, "captioner": captioner}, data,
                                        {"Content-Type": "application/x-ndjson"}, auth=True))

    # -- batch stream

    def batches(self, selection: str, batch: int = 256, size: int = 224, augment: str = "train", seed: int = 0,
                epoch: int = 0, rank: int = 0, world: int = 1, cursor: Optional[str] = None, retries: int = 3,
                busy_timeout: float = 600.0, epochs: int = 1, **extra) -> Iterator[Batch]:
        """`epochs` epochs (this rank's share of each) of batches over one stream, from `epoch` (or the cursor's) on;
        each batch says its epoch and whether it is the epoch's last. The server starts each later epoch while the
        one before is still being sent, so many epochs over one stream pay a request's start-up once.
        A cut stream is resumed from its last cursor, up to `retries` times.

        While the server is serving all the streams it allows (503), waits as its Retry-After says and asks
        again, for up to `busy_timeout` seconds in a row."""
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, not {epochs}")
        params = {"selection": selection, "batch": batch, "size": size, "augment": augment, **extra}
        last_epoch = (_cursor_epoch(cursor) if cursor else epoch) + epochs - 1
        failures = 0
        busy_since = None
        while True:
            if cursor:
                # A resumed stream runs from the cursor's epoch to the same last epoch.
                remaining = last_epoch - _cursor_epoch(cursor) + 1
                query = dict(params, cursor=cursor, **({"epochs": remaining} if remaining > 1 else {}))
            else:
                query = dict(params, seed=seed, epoch=epoch, rank=rank, world=world, **({"epochs": epochs} if epochs > 1 else {}))
            try:
                for item in self._stream(query):
                    busy_since = None
                    cursor = item.cursor
                    failures = 0
                    yield item
                return
            except ServerBusy as busy:
                busy_since = busy_since or time.monotonic()
                if time.monotonic() - busy_since + busy.retry_after > busy_timeout:
                    raise
                time.sleep(busy.retry_after)
            except (StreamCut, ConnectionError, http.client.HTTPException, TimeoutError) as error:
                failures += 1
                if failures > retries:
                    raise LoomError(0, f"batch stream cut {failures} times in a row (last cursor {cursor}): {error}")

    def _stream(self, query: dict) -> Iterator[Batch]:
        # Frames hold at most the asked batch of size x size RGB samples: a header that claims
        # more is refused before anything is allocated for it.
        batch, size = int(query["batch"]), int(query["size"])
        connection, response = self._open("GET", "/v1/batches", query)
        try:
            if response.status == 503 and response.getheader("Retry-After", "").strip().isdigit():
                raise ServerBusy(_error_message(response.read()), float(response.getheader("Retry-After")))
            if response.status != 200:
                raise LoomError(response.status, _error_message(response.read()))
            while True:
                header = _read_exactly(response, HEADER.size)
                magic, header_bytes, n, height, width, channels, flags, epoch, position, pixel_bytes, label_bytes, cursor = \
                    HEADER.unpack(header)
                if magic != MAGIC:
                    raise LoomError(0, f"not a Loom batch stream (magic {magic!r})")
                if header_bytes > HEADER.size:
                    _read_exactly(response, header_bytes - HEADER.size)
                try:
                    token = cursor.rstrip(b"\0").decode("ascii")
                except UnicodeDecodeError:
                    raise LoomError(0, f"frame cursor is not ASCII: {cursor.rstrip(bytes(1))!r}") from None
                if flags & FLAG_ERROR:
                    if pixel_bytes > MAX_ERROR_BYTES:
                        raise LoomError(0, f"error frame says its message is {pixel_bytes} bytes (resume from {token})")
                    message = _read_exactly(response, pixel_bytes).decode("utf-8", "replace")
                    raise LoomError(500, f"the server's loader failed (resume from {token}): {message}")
                if flags & FLAG_END:
                    return
                if not 1 <= n <= batch or (height, width, channels) != (size, size, 3):
                    raise LoomError(0, f"frame holds {n} samples of {height}x{width}x{channels}; this stream asked for "
                                       f"1 to {batch} of {size}x{size}x3")
                pixels = np.empty((n, height, width, channels), dtype=np.uint8)
                _read_into(response, memoryview(pixels).cast("B"), pixel_bytes)
                labels = np.empty(n, dtype="<i8")
                _read_into(response, memoryview(labels).cast("B"), label_bytes)
                yield Batch(pixels, labels.astype(np.int64, copy=False), epoch, position, token,
                            bool(flags & FLAG_LAST_OF_EPOCH))
        finally:
            connection.close()


def _cursor_epoch(cursor: str) -> int:
    """The epoch a resume token (loom2.SEED.EPOCH.POSITION.RANK.WORLD.FINGERPRINT) names."""
    parts = cursor.split(".")
    if len(parts) < 4 or not parts[2].isdigit():
        raise ValueError(f"not a Loom resume token: {cursor!r}")
    return int(parts[2])


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error_message(data: bytes) -> str:
    try:
        return json.loads(data)["error"]
    except Exception:
        return data[:500].decode("utf-8", "replace")


def _read_exactly(response, count: int) -> bytes:
    data = response.read(count) if count else b""
    if len(data) != count:
        raise StreamCut(f"stream ended inside a frame ({len(data)} of {count} bytes)")
    return data


def _read_into(response, view: memoryview, count: int) -> None:
    if len(view) != count:
        raise LoomError(0, f"frame says {count} bytes, its shape needs {len(view)}")
    done = 0
    while done < count:
        got = response.readinto(view[done:])
        if not got:
            raise StreamCut(f"stream ended inside a frame ({done} of {count} bytes)")
        done += got
