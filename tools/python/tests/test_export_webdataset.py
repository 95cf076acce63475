"""`loom export --format webdataset`, read back with the real `webdataset` library."""

import glob
import hashlib
import json
import os

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
