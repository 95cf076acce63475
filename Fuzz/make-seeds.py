#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into Fuzz/corpus/<target>/ (docs/shard-format.md,
docs/batch-stream.md). Run it again after a format change; the seeds are small and committed."""

import hashlib
import os
import struct
import subprocess
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def crc(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def shard_file(records, sealed):
    head = b"LOOMSHRD" + struct.pack("<HHIqI", 1, 32, 0, 7, 0)
    out = bytearray(head + struct.pack("<I", crc(head)))
    index = bytearray()
    for codec, payload, raw in records:
        offset = len(out)
        digest = hashlib.sha256(raw).digest()
        header = b"LREC" + bytes([codec, 0, 0, 0]) + struct.pack("<QQ", len(payload), len(raw)) + digest
        header += struct.pack("<I", crc(payload))
        out += header + struct.pack("<I", crc(header)) + payload
        index += digest + struct.pack("<Q", offset)
    if sealed:
        trailer = b"LOOMINDX" + struct.pack("<QQI", len(out), len(records), crc(bytes(index)))
        out += index + trailer + struct.pack("<I", crc(trailer))
    return bytes(out)


def lz4_frame(raw):
    return subprocess.run(["lz4", "-q", "-c", "--content-size"], input=raw, stdout=subprocess.PIPE, check=True).stdout


def shard_seeds():
    text = b"a loom record, " * 20
    records = [(0, b"raw bytes", b"raw bytes"), (1, lz4_frame(text), text)]
    for mode in (0, 1):
        write("shard", f"sealed-{mode}", bytes([mode]) + shard_file(records, sealed=True))
        write("shard", f"open-{mode}", bytes([mode]) + shard_file(records[:1], sealed=False))


def batch_frame(n, h, w, c, flags, cursor, pixels=None, labels=None, header_bytes=128):
    pixels = bytes(n * h * w * c) if pixels is None else pixels
    labels = struct.pack(f"<{n}q", *range(n)) if labels is None else labels
    head = struct.pack("<8sIIIIIIQQQQ64s", b"LOOMBAT1", header_bytes, n, h, w, c, flags, 0, n, len(pixels), len(labels),
                       cursor.encode())
    return head + pixels + labels


def batch_seeds():
    cursor = "loom1.0.0.2.0.1"
    end = batch_frame(0, 0, 0, 3, 2, cursor, b"", b"")
    write("batch-frame", "two-batches", batch_frame(2, 2, 2, 3, 0, cursor) + batch_frame(1, 2, 2, 3, 1, cursor) + end)
    write("batch-frame", "end-only", end)
    message = b"sample 3: corrupt JPEG"
    write("batch-frame", "error", batch_frame(0, 0, 0, 3, 4, cursor, message, b""))
    write("batch-frame", "cut", batch_frame(2, 2, 2, 3, 0, cursor)[:150])


def text_seeds():
    for name, text in {
        "plain": "selection=fashion-mnist:train&batch=256&size=224&augment=train&seed=0",
        "cursor": "selection=a:train*3%2Bb:synthetic:class-caption&cursor=loom1.0.0.512.0.1&drop_last=true",
        "escapes": "dataset=%E2%9C%93&class=caf%C3%A9&split=..&x",
        "empty-values": "a=&=b&&drop_last",
    }.items():
        write("query", name, text.encode())
    for name, text in {
        "token": "loom1.18446744073709551615.3.512.1.4",
        "selection": "imagenette:train*0.5+imagenette:synthetic:class-caption",
        "both": "loom1.0.0.0.0.1\nfashion-mnist:train*2+x:val",
    }.items():
        write("loader", name, text.encode())


def png(width, height, bit_depth, color_type, rows, interlace=0, extra=b""):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def image_seeds():
    # The JPEGs and the 8-bit gray and RGB PNGs come from Loom's encoders (Fuzz/image/MakeImageSeeds.swift).
    palette = struct.pack(">I", 6) + b"PLTE" + bytes([255, 0, 0, 0, 0, 255])
    palette += struct.pack(">I", crc(b"PLTE" + bytes([255, 0, 0, 0, 0, 255])))
    write("image", "palette.png", png(3, 2, 8, 3, b"\0\0\1\0" + b"\0\1\0\1", extra=palette))
    write("image", "rgba16.png", png(2, 2, 16, 6, (b"\0" + bytes(range(16))) * 2))
    write("image", "gray-alpha-interlaced.png", png(3, 3, 8, 4, bytes(64), interlace=1))
    for name, magic in {"gif": b"GIF89a", "bmp": b"BM", "webp": b"RIFF\0\0\0\0WEBPVP8 ", "tiff": b"II*\0",
                        "soi-only": b"\xff\xd8"}.items():
        write("image", name, magic + bytes(8))


def multipart_seeds():
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
            b"\xff\xd8\xff\xe0 jpeg bytes\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XyZ--\r\n")
    write("multipart", "two-parts", b"multipart/form-data; boundary=XyZ\n" + body)
    write("multipart", "quoted", b"multipart/form-data; boundary=\"XyZ\"; charset=utf-8\n" + body)
    write("multipart", "escaped-name",
          b"multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"C:\\\\x\\\"y.png\"\r\n\r\n\r\n--b--")


if __name__ == "__main__":
    shard_seeds()
    batch_seeds()
    text_seeds()
    multipart_seeds()
    image_seeds()
