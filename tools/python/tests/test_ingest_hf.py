"""`loom-client ingest-hf`: a Parquet file the real `datasets` library wrote, and Loom -> HF -> Loom."""

import hashlib
import io
import json
import os
import subprocess
import sys

import datasets
import pytest

from conftest import TOKEN, Server, loom


def ls(store, dataset, split):
    run = loom("ls", "--store", str(store), "--dataset", dataset, "--split", split, "--json")
    return [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


def ingest_hf(url, *args):
    env = dict(os.environ, CI="1", LOOM_TOKEN=TOKEN, LOOM_URL=url)
    return subprocess.run([sys.executable, "-m", "loom_client", "ingest-hf", *args, "--json"], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture
def target(tmp_path):
    store = tmp_path / "target"
    loom("init", "--store", str(store))
    running = Server(store, tmp_path)
    yield store, running.url
    running.stop()


def pngs(count):
    """Small distinct PNGs made with Pillow, as a Hugging Face dataset holds them."""
    from PIL import Image

    images = []
    for index in range(count):
        buffer = io.BytesIO()
        Image.new("RGB", (8 + index, 6), (index * 20 % 256, 40, 200 - index)).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    return images


def test_a_parquet_file_written_by_datasets(target, tmp_path):
    store, url = target
    images = pngs(9)
    names = ["zebra", "apple", "mango"]  # ClassLabel order is not the names' byte order
    labels = [2, 1, 2, 0, 1, 2, 0, 1, 2]  # nor the order the classes first appear in
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    table = datasets.Dataset.from_dict({"image": [{"bytes": b, "path": None} for b in images], "label": labels},
                                       features=features)
    path = tmp_path / "train-00000-of-00001.parquet"
    table.to_parquet(str(path))

    run = ingest_hf(url, str(path), "--dataset", "hub")
    assert run.returncode == 0, run.stderr
    totals = json.loads(run.stdout)
    assert totals["files"] == 9 and totals["added"] == 9 and not totals["rejected"]
    rows = ls(store, "hub", "train")
    by_digest = {row["digest"]: row for row in rows}
    assert len(rows) == 9
    for index, data in enumerate(images):
        row = by_digest[hashlib.sha256(data).hexdigest()]  # the bytes, untouched
        assert row["class"] == names[labels[index]]
    # A new dataset keeps the ClassLabel's numbering.
    assert {row["class"]: row["label"] for row in rows} == {"zebra": 0, "apple": 1, "mango": 2}

    again = json.loads(ingest_hf(url, str(path), "--dataset", "hub").stdout)
    assert again["added"] == 0 and again["unchanged"] == 9


def test_loom_to_hugging_face_and_back(target, tmp_path, store):
    back, url = target
    out = str(tmp_path / "hf")
    loom("export", "--store", str(store), "--format", "hf", "--dataset", "fmnist", out)
    run = ingest_hf(url, out, "--dataset", "fmnist")
    assert run.returncode == 0, run.stderr
    for split in ("train", "val"):
        original = sorted((r["digest"], r["class"], r["label"]) for r in ls(store, "fmnist", split))
        copied = sorted((r["digest"], r["class"], r["label"]) for r in ls(back, "fmnist", split))
        assert copied == original and original, split
