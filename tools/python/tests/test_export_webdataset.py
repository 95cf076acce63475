"""`loom export --format webdataset` and `--format hf`, read back with the real `webdataset` and
`datasets` libraries."""

import glob
import hashlib
import json
import os

import datasets
import pytest
import webdataset

from conftest import loom


@pytest.fixture(scope="module")
def pipeline_store(tmp_path_factory):
    """A store with real images, captions of its val split, prompts from them and synthetic images."""
    root = tmp_path_factory.mktemp("wds")
    data, store = root / "data", str(root / "store")
    loom("dataset", "fashion-mnist", str(data), "--train-per-class", "3", "--val-per-class", "2")
    loom("ingest", str(data), "--dataset", "fm", "--store", store)
    loom("caption", "--store", store, "--dataset", "fm", "--split", "val", "--backend", "builtin:stats")
    loom("prompts", "--store", store, "--dataset", "fm", "--strategy", "class-caption")
    loom("generate", "--store", store, "--dataset", "fm", "--prompts", "class-caption", "--backend", "builtin:procedural",
         "--per-prompt", "2", "--seed", "3", "--size", "32x32")
    return store


def json_lines(run):
    return [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


def test_a_selection_leaves_with_its_lineage(pipeline_store, tmp_path):
    out = str(tmp_path / "shards")
    selection = "fm:synthetic:class-caption+fm:val"
    report = json.loads(loom("export", "--store", pipeline_store, "--format", "webdataset", "--selection", selection,
                             "--shard-size", "64KB", "--name", "fm", "--json", out).stdout)
    shards = sorted(glob.glob(os.path.join(out, "fm-*.tar")))
    assert [os.path.basename(s) for s in shards] == report["shards"] and len(shards) > 1
    for shard in shards:
        assert os.path.getsize(shard) <= 64_000, shard

    synthetic = json_lines(loom("synthetic", "--store", pipeline_store, "--dataset", "fm", "--json"))
    val = json_lines(loom("ls", "--store", pipeline_store, "--dataset", "fm", "--split", "val", "--json"))
    assert report["samples"] == len(synthetic) + len(val) == 40 + 20

    samples = list(webdataset.WebDataset(shards, shardshuffle=False).decode())
    assert len(samples) == report["samples"]
    keys = [s["__key__"] for s in samples]
    assert len(set(keys)) == len(keys)
    by_digest = {}
    for sample in samples:
        assert len([m for m in ("png", "jpg") if m in sample]) == 1, sample.keys()
        meta = sample["json"]
        by_digest[meta["digest"]] = meta
        assert meta["label"] == sample["cls"]
    # The image bytes are the originals: read the raw members to compare digests.
    for sample in webdataset.WebDataset(shards, shardshuffle=False):
        member = sample.get("png", sample.get("jpg"))
        meta = json.loads(sample["json"])
        assert hashlib.sha256(member).hexdigest() == meta["digest"]
        assert int(sample["cls"]) == meta["label"]

    for image in val:
        meta = by_digest[image["digest"]]
        assert (meta["split"], meta["path"], meta["class"], meta["label"]) == ("val", image["path"], image["class"], image["label"])
    for image in synthetic:
        meta = by_digest[image["digest"]]
        assert meta["split"] == "synthetic" and meta["prompt"] == image["prompt"] and meta["seed"] == image["seed"]
        assert meta["strategy"] == "class-caption" and meta["captioner"] == "loom-builtin-stats" and meta["caption"]
        assert meta["real_split"] == "val" and meta["real_digest"] in {v["digest"] for v in val}
        assert meta["generator"] == "loom-builtin-procedural" and meta["steps"] > 0 and "guidance" in meta

    # Idempotent: the same export again leaves every shard as it is.
    again = json.loads(loom("export", "--store", pipeline_store, "--format", "webdataset", "--selection", selection,
                            "--shard-size", "64KB", "--name", "fm", "--json", out).stdout)
    assert again["written"] == 0 and again["unchanged"] == len(shards)
    # Another selection onto the same names is refused, not written over.
    clash = loom("export", "--store", pipeline_store, "--format", "webdataset", "--dataset", "fm", "--split", "train",
                 "--shard-size", "64KB", "--name", "fm", out, check=False)
    assert clash.returncode != 0 and "refusing to overwrite" in clash.stderr


def test_a_dataset_exports_every_split(pipeline_store, tmp_path):
    out = str(tmp_path / "all")
    report = json.loads(loom("export", "--store", pipeline_store, "--format", "webdataset", "--dataset", "fm", "--json", out).stdout)
    samples = list(webdataset.WebDataset(sorted(glob.glob(out + "/*.tar")), shardshuffle=False).decode())
    assert report["samples"] == len(samples) == 30 + 20 and len(report["shards"]) == 1
    assert {s["json"]["split"] for s in samples} == {"train", "val"}


def test_hugging_face_image_folder(pipeline_store, tmp_path):
    out = str(tmp_path / "hf")
    selection = "fm:synthetic:class-caption+fm:train+fm:val"
    report = json.loads(loom("export", "--store", pipeline_store, "--format", "hf", "--selection", selection, "--json", out).stdout)
    assert report["splits"] == ["train", "val"] and report["samples"] == 40 + 30 + 20

    loaded = datasets.load_dataset("imagefolder", data_dir=out)
    assert sorted(loaded.keys()) == ["train", "validation"]
    names = loaded["train"].features["label"].names
    ls_train = json_lines(loom("ls", "--store", pipeline_store, "--dataset", "fm", "--split", "train", "--json"))
    label_of = {line["class"]: line["label"] for line in ls_train}
    assert isinstance(loaded["train"].features["label"], datasets.ClassLabel)
    assert all(names[label] == wnid for wnid, label in label_of.items()), (names, label_of)

    synthetic = {s["digest"]: s for s in json_lines(loom("synthetic", "--store", pipeline_store, "--dataset", "fm", "--json"))}
    real = {r["digest"]: r for r in ls_train}
    rows = loaded["train"]
    assert len(rows) == 70 and len(loaded["validation"]) == 20
    for row in rows:
        assert row["label"] == label_of[row["class"]]
        if row["split"] == "synthetic":
            expected = synthetic[row["digest"]]
            assert row["prompt"] == expected["prompt"] and row["seed"] == expected["seed"] and row["caption"]
            assert row["real_split"] == "val" and row["path"] is None
        else:
            assert real[row["digest"]]["path"] == row["path"] and row["prompt"] is None
    # The image files are the original bytes: every file hashes to a digest the store holds.
    val = {r["digest"] for r in json_lines(loom("ls", "--store", pipeline_store, "--dataset", "fm", "--split", "val", "--json"))}
    files = 0
    for root, _, names in os.walk(out):
        for name in names:
            if name == "metadata.parquet":
                continue
            with open(os.path.join(root, name), "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            assert digest in real or digest in synthetic or digest in val, name
            files += 1
    assert files == report["samples"]

    again = json.loads(loom("export", "--store", pipeline_store, "--format", "hf", "--selection", selection, "--json", out).stdout)
    assert again["written"] == 0 and again["unchanged"] == report["written"]
