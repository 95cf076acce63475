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


def test_webdataset_shards_written_by_webdataset(tmp_path):
    import webdataset

    images = pngs(12)
    pattern = str(tmp_path / "shard-%06d.tar")
    with webdataset.ShardWriter(pattern, maxcount=5) as sink:
        for index, data in enumerate(images):
            sample = {"__key__": f"s{index:04d}", "png": data}
            if index == 11:
                pass  # no label: a rejection
            elif index % 2:
                sample["cls"] = index % 3
            else:
                sample["json"] = {"label": index % 3}
            sink.write(sample)
    store = tmp_path / "store"
    run = loom("ingest", "--format", "webdataset", str(tmp_path / "shard-{000000..000002}.tar"), "--dataset", "wds",
               "--store", str(store), "--json")
    summary = json.loads(run.stdout)
    assert summary["added"] == 11 and [r["path"] for r in summary["rejected"]] == ["shard-000002.tar:s0011"]
    rows = {r["digest"]: r for r in ls(store, "wds", "train")}
    for index, data in enumerate(images[:11]):
        assert rows[hashlib.sha256(data).hexdigest()]["label"] == index % 3
    again = json.loads(loom("ingest", "--format", "webdataset", str(tmp_path / "shard-*.tar"), "--dataset", "wds",
                            "--store", str(store), "--json").stdout)
    assert again["added"] == 0 and again["unchanged"] == 11


def test_loom_to_webdataset_and_back(store, tmp_path):
    back = tmp_path / "back"
    for split in ("train", "val"):
        out = tmp_path / f"wds-{split}"
        loom("export", "--store", str(store), "--format", "webdataset", "--dataset", "fmnist", "--split", split,
             "--shard-size", "8KB", str(out))
        loom("ingest", "--format", "webdataset", str(out / "*.tar"), "--dataset", "fmnist", "--split", split, "--store", str(back))
        original = sorted((r["digest"], r["class"], r["label"]) for r in ls(store, "fmnist", split))
        copied = sorted((r["digest"], r["class"], r["label"]) for r in ls(back, "fmnist", split))
        assert copied == original and original, split
    names = json.loads(loom("stats", "--store", str(back), "--json").stdout)
    assert names["datasets"][0]["classes"] == 10
