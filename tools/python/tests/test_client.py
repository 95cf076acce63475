import hashlib
import json

import numpy as np
import pytest

from loom_client import LoomClient, LoomError, LoomIterableDataset, shard_for_worker
from loom_client.client import HEADER
from conftest import loom


def stream_lines(store, *args):
    run = loom("stream", "--store", str(store), "--json", *args)
    return [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


def test_reads(server):
    client = LoomClient(server["url"])
    assert client.health()["status"] == "ok"
    stats = client.stats()
    assert stats["datasets"][0]["name"] == "fmnist" and stats["datasets"][0]["images"] == 60
    assert [c["wnid"] for c in client.classes("fmnist")][:2] == ["ankle_boot", "bag"]
    images = list(client.iter_images(dataset="fmnist", split="val", page=7))
    assert len(images) == 20
    first = images[0]
    data = client.blob(first["digest"])
    assert hashlib.sha256(data).hexdigest() == first["digest"] and data[:4] == b"\x89PNG"
    assert client.lineage(first["digest"])["kind"] == "real"
    assert client.sql("SELECT count(*) AS n FROM blobs")["rows"] == [{"n": 60}]
    with pytest.raises(LoomError) as error:
        client.images(dataset="nope")
    assert error.value.status == 404 and "nope" in error.value.message


def test_writes_need_the_token(server, tmp_path):
    files = [("copy.png", LoomClient(server["url"]).blob(LoomClient(server["url"]).images(dataset="fmnist", limit=1)["images"][0]["digest"]))]
    with pytest.raises(LoomError) as error:
        LoomClient(server["url"]).ingest("uploads", "bag", files)
    assert error.value.status == 401
    with pytest.raises(LoomError) as error:
        LoomClient(server["url"], token="wrong").ingest("uploads", "bag", files)
    assert error.value.status == 403
    summary = LoomClient(server["url"], token=server["token"]).ingest("uploads", "bag", files + [("bad.jpg", b"not an image")])
    assert summary["duplicates"] == 1 and [r["path"] for r in summary["rejected"]] == ["bag/bad.jpg"]
    result = LoomClient(server["url"], token=server["token"]).import_captions(
        "uploads", "people", [{"path": "bag/copy.png", "caption": "a bag"}])
    assert result["imported"] == 1


def test_stream_matches_loom_stream(server):
    client = LoomClient(server["url"])
    args = dict(batch=7, size=28, augment="train", seed=5, epoch=1, rank=1, world=2)
    batches = list(client.batches("fmnist:train", **args))
    expected = stream_lines(server["store"], "--selection", "fmnist:train", "--batch", "7", "--size", "28", "--augment",
                            "train", "--seed", "5", "--epoch", "1", "--rank", "1", "--world", "2")
    summary, lines = expected[-1], expected[:-1]
    assert len(batches) == len(lines) == 3
    for batch, line in zip(batches, lines):
        assert batch.pixels.shape == (line["count"], 28, 28, 3) and batch.pixels.dtype == np.uint8
        assert hashlib.sha256(batch.pixels.tobytes()).hexdigest()[:16] == line["checksum"]
        assert batch.labels.tolist() == line["labels"] and batch.labels.dtype == np.int64
    assert batches[-1].cursor == summary["resume"] and batches[-1].last_of_epoch


def test_resume_from_a_cursor(server):
    client = LoomClient(server["url"])
    whole = list(client.batches("fmnist:train", batch=8, size=16, seed=2))
    first_two = []
    for batch in client.batches("fmnist:train", batch=8, size=16, seed=2):
        first_two.append(batch)
        if len(first_two) == 2:
            break  # the generator closes the connection: a cut stream
    rest = list(client.batches("fmnist:train", batch=8, size=16, cursor=first_two[-1].cursor))
    assert [b.pixels.tobytes() for b in first_two + rest] == [b.pixels.tobytes() for b in whole]
    assert [b.labels.tolist() for b in first_two + rest] == [b.labels.tolist() for b in whole]


def test_epochs_over_one_stream(server):
    client = LoomClient(server["url"])
    single = [list(client.batches("fmnist:train", batch=16, size=8, seed=3, epoch=e)) for e in (1, 2, 3)]
    assert [len(epoch) for epoch in single] == [3, 3, 3]  # 40 images: 16, 16, 8
    whole = [b for epoch in single for b in epoch]
    together = list(client.batches("fmnist:train", batch=16, size=8, seed=3, epoch=1, epochs=3))
    assert [b.pixels.tobytes() for b in together] == [b.pixels.tobytes() for b in whole]
    assert [b.epoch for b in together] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert [i for i, b in enumerate(together) if b.last_of_epoch] == [2, 5, 8]
    # Cut in the second epoch; its cursor with epochs=2 (counted from the cursor's own) gives the rest.
    first_four = []
    for batch in client.batches("fmnist:train", batch=16, size=8, seed=3, epoch=1, epochs=3):
        first_four.append(batch)
        if len(first_four) == 4:
            break
    assert first_four[-1].cursor.startswith("loom2.3.2.16.")
    rest = list(client.batches("fmnist:train", batch=16, size=8, cursor=first_four[-1].cursor, epochs=2))
    assert [b.pixels.tobytes() for b in first_four + rest] == [b.pixels.tobytes() for b in whole]
    with pytest.raises(ValueError):
        next(iter(client.batches("fmnist:train", epochs=0)))


def test_a_cursor_names_its_stream(server):
    client = LoomClient(server["url"])
    first = next(iter(client.batches("fmnist:train", batch=8, size=16, seed=2)))
    assert first.cursor.startswith("loom2.2.0.8.0.1.")  # loom2.SEED.EPOCH.POSITION.RANK.WORLD.FINGERPRINT
    # Resuming another selection from it is a mistake the server refuses, not a wrong stream.
    with pytest.raises(LoomError) as error:
        list(client.batches("fmnist:val", batch=8, size=16, cursor=first.cursor))
    assert error.value.status == 400 and "cursor" in error.value.message and "another selection" in error.value.message
    # Old loom1 cursors carry no fingerprint and still resume.
    assert len(list(client.batches("fmnist:train", batch=8, size=16, cursor="loom1.2.0.8.0.1"))) == 4


def test_worker_split_covers_the_epoch_once(server):
    assert shard_for_worker(1, 2, 0, 3) == (3, 6)
    labels = []
    for rank in range(2):
        for worker in range(2):
            shard, shards = shard_for_worker(rank, 2, worker, 2)
            dataset = LoomIterableDataset(server["url"], "fmnist:train", batch=5, size=8, augment="eval", seed=9,
                                          rank=shard, world=shards)
            got = [int(label) for _, batch_labels in dataset for label in batch_labels]
            assert len(got) == 10  # 40 training images over 4 shards
            labels += got
    # Every image exactly once: 4 per class over the 10 classes.
    assert sorted(labels) == sorted(list(range(10)) * 4)


def test_torch_dataloader(server):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader
    dataset = LoomIterableDataset(server["url"], "fmnist:train", batch=4, size=8, augment="eval", seed=1)
    assert isinstance(dataset, torch.utils.data.IterableDataset)
    total = 0
    for pixels, labels in DataLoader(dataset, batch_size=None, num_workers=2):
        assert pixels.dtype == torch.uint8 and labels.dtype == torch.int64
        total += len(labels)
    assert total == 40


def test_frame_header_layout():
    assert HEADER.size == 128
