"""Shared protocol code for Loom `process:` workers (loom-worker protocol, version 1).

One JSON object per line. The worker prints a handshake first, then answers each request line
with one line carrying the same "id". See README.md in this folder.

Everything a library prints to stdout would corrupt the protocol, so `serve` moves sys.stdout to
stderr and writes protocol lines to the real stdout only.
"""
import base64
import json
import sys
import time
import traceback

PROTOCOL = "loom-worker"
VERSION = 1


def serve(role, name, model_version, params, handle_batch, load=None):
    """Runs the worker loop.

    role: "captioner" or "generator".
    load: optional callable run before the handshake (model loading); may return a new
          (name, model_version, params) tuple.
    handle_batch(items) -> list of result dicts, one per item ({"caption": ...} /
          {"media_type", "data", "seconds"} / {"error": ...}).
    """
    out = sys.stdout
    sys.stdout = sys.stderr  # library chatter goes to stderr, never into the protocol

    def send(obj):
        out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        out.flush()

    if load is not None:
        loaded = load()
        if loaded is not None:
            name, model_version, params = loaded
    send({"protocol": PROTOCOL, "version": VERSION, "role": role, "name": name,
          "model_version": model_version, "params": params})
    key = "images" if role == "captioner" else "requests"
    for line in sys.stdin:
        if not line.strip():
            continue
        request_id = None
        try:
            request = json.loads(line)
            request_id = request["id"]
            items = request[key]
            results = handle_batch(items)
            if len(results) != len(items):
                raise RuntimeError("worker produced %d results for %d items" % (len(results), len(items)))
            send({"id": request_id, "results": results})
        except Exception as error:  # the whole batch fails, the worker stays up
            traceback.print_exc(file=sys.stderr)
            send({"id": request_id, "error": "%s: %s" % (type(error).__name__, error)})


def decode_image(item):
    return base64.b64decode(item["data"])


def encode_image(data, media_type="image/png", seconds=None):
    result = {"media_type": media_type, "data": base64.b64encode(data).decode("ascii")}
    if seconds is not None:
        result["seconds"] = round(seconds, 4)
    return result


def per_item(function, items):
    """Maps items through function, turning an exception into that item's {"error": ...}."""
    results = []
    for item in items:
        try:
            results.append(function(item))
        except Exception as error:
            results.append({"error": "%s: %s" % (type(error).__name__, error)})
    return results


def tiny_png(width, height, rgb):
    """A solid-colour PNG made with the standard library only (for --dry-run)."""
    import struct
    import zlib

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    raw = row * height
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def run(role, args, params, dry_function, make_model, self_test, label):
    """The main of a worker script: --self-test, --dry-run (stand-in outputs through the real
    protocol, named NAME-dry-run so they can never pass for the model's), or the model itself,
    loaded once after the handshake. `make_model(args)` returns an object with `device`, `dtype`,
    `model_version` and a batch method named after the role's verb (caption / generate)."""
    if args.self_test:
        self_test()
        return
    name = args.model.rstrip("/").split("/")[-1]
    if args.dry_run:
        serve(role, name + "-dry-run", "dry-run", params, lambda items: per_item(dry_function, items))
        return
    state = {}

    def load():
        started = time.time()
        state["model"] = make_model(args)
        print("%s: loaded %s on %s in %.1f s" % (label, args.model, state["model"].device, time.time() - started), file=sys.stderr)
        params["dtype"] = str(state["model"].dtype).replace("torch.", "")
        return name, state["model"].model_version, params

    verb = "caption" if role == "captioner" else "generate"
    serve(role, name, "unpinned", params, lambda items: getattr(state["model"], verb)(items), load=load)

