"""Shared protocol code for Loom `process:` workers (loom-worker protocol, version 1).

One JSON object per line. The worker prints a handshake first, then answers each request line
with one line carrying the same "id". See README.md in this folder.

Everything a library prints to stdout would corrupt the protocol, so `serve` moves sys.stdout to
stderr and writes protocol lines to the real stdout only.
"""
import base64
import hashlib
import json
import os
import re
import sys
import time
import traceback

PROTOCOL = "loom-worker"
VERSION = 1


def serve(role, name, model_version, params, handle_batch, load=None, constraints=None):
    """Runs the worker loop.

    role: "captioner" or "generator".
    load: optional callable run before the handshake (model loading); may return a new
          (name, model_version, params, constraints) tuple.
    handle_batch(items) -> list of result dicts, one per item ({"caption": ...} /
          {"media_type", "data", "seconds"} / {"error": ...}).
    constraints: what requests the worker can serve, e.g. {"size_multiple": 8}; Loom refuses
          settings outside them before it sends any request.
    """
    out = sys.stdout
    sys.stdout = sys.stderr  # library chatter goes to stderr, never into the protocol

    def send(obj):
        out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        out.flush()

    if load is not None:
        loaded = load()
        if loaded is not None:
            name, model_version, params, constraints = loaded
    handshake = {"protocol": PROTOCOL, "version": VERSION, "role": role, "name": name,
                 "model_version": model_version, "params": params}
    if constraints:
        handshake["constraints"] = constraints
    send(handshake)
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


# A Hugging Face hub id: "name" or "org/name" (letters, digits, - _ .), nothing path-like.
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def check_model(value):
    """Fails clearly on a --model that names a local path which is not there (from_pretrained
    would take it for a hub id and complain about the hub). Returns the directory, or None for
    a hub id."""
    expanded = os.path.expanduser(value)
    if os.path.isdir(expanded):
        return expanded
    # A hub id has one "/" at most; anything else with a separator, or starting like a path, is one.
    looks_like_path = value.startswith(("/", ".", "~")) or not HUB_ID.match(value) \
        or any(sep is not None and sep != "/" and sep in value for sep in (os.sep, os.altsep))
    if looks_like_path or os.path.exists(expanded):
        what = "not a directory" if os.path.exists(expanded) else "no such model directory"
        raise SystemExit("%s: %s (--model takes a Hugging Face model id such as org/name, or a folder made by save_pretrained)"
                         % (what, value))
    return None


def directory_version(folder):
    """The version of a local model folder: a hash of every file's path and bytes, so a
    folder whose weights change is a different model in the catalog (a local folder has no
    hub commit)."""
    digest = hashlib.sha256()
    for parent, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(parent, name)
            digest.update(os.path.relpath(path, folder).encode() + b"\0")
            with open(path, "rb") as source:
                for block in iter(lambda: source.read(1 << 20), b""):
                    digest.update(block)
            digest.update(b"\0")
    return "sha256-" + digest.hexdigest()[:16]


def run(role, args, params, dry_function, make_model, self_test, label, constraints=None):
    """The main of a worker script: --self-test, --dry-run (stand-in outputs through the real
    protocol, named NAME-dry-run so they can never pass for the model's), or the model itself,
    loaded once after the handshake. `make_model(args)` returns an object with `device`, `dtype`,
    `model_version` and a batch method named after the role's verb (caption / generate), and may
    have `constraints` (a dict for the handshake; `constraints` is the default)."""
    if args.self_test:
        self_test()
        return
    name = args.model.rstrip("/").split("/")[-1]
    if args.dry_run:
        serve(role, name + "-dry-run", "dry-run", params, lambda items: per_item(dry_function, items),
              constraints=constraints)
        return
    folder = check_model(args.model)
    state = {}

    def load():
        started = time.time()
        state["model"] = model = make_model(args)
        print("%s: loaded %s on %s in %.1f s" % (label, args.model, model.device, time.time() - started), file=sys.stderr)
        params["dtype"] = str(model.dtype).replace("torch.", "")
        version = directory_version(folder) if folder is not None and model.model_version == "unpinned" else model.model_version
        return name, version, params, getattr(model, "constraints", constraints)

    verb = "caption" if role == "captioner" else "generate"
    serve(role, name, "unpinned", params, lambda items: getattr(state["model"], verb)(items), load=load)


def dtype_keyword(package, since):
    """`dtype` for libraries that renamed `torch_dtype` to it (and warn on the old name),
    `torch_dtype` for older ones."""
    import importlib.metadata

    def parts(version):
        return tuple(int(p) for p in re.findall(r"\d+", version)[:3])

    return "dtype" if parts(importlib.metadata.version(package)) >= since else "torch_dtype"
