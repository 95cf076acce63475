"""Hugging Face datasets into a Loom store: `loom-client ingest-hf PATH --dataset NAME`.

PATH is a Parquet file or a folder of them (the hub's `data/train-00000-of-00001.parquet` layout),
a folder `Dataset.save_to_disk` wrote, or anything `datasets.load_dataset(PATH)` loads (an image
folder, a hub dataset in the cache). Image bytes go to the store untouched, through
`POST /v1/ingest`, which validates, dedups and reports rejections exactly as `loom ingest` does;
class folders are the names of the label column's ClassLabel, so Loom numbers them as it numbers
folders (byte order of the names).
"""

import os
import re

from .client import LoomClient

SPLIT_NAMES = {"validation": "val", "valid": "val", "dev": "val"}
IMAGE_SUFFIXES = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg"}


def _split_of(name):
    """`train-00000-of-00001.parquet` -> train; validation -> val, as Loom names the split."""
    split = re.split(r"[-_.]", os.path.basename(name))[0].lower()
    return SPLIT_NAMES.get(split, split)


def _parquet_tables(path):
    """(split, pyarrow table) for each Parquet file at PATH, in name order."""
    import pyarrow.parquet as pq

    files = [path] if os.path.isfile(path) else _data_files(path)
    for file in files:
        yield _split_of(file), pq.read_table(file), file


def _data_files(folder):
    """The Parquet data files below `folder`; an image folder's `metadata.parquet` is not one."""
    return sorted(os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
                  if name.endswith(".parquet") and name != "metadata.parquet")


def _label_names(table, column):
    """The ClassLabel names of `column`, from the Hugging Face features in the file's footer."""
    import json

    metadata = (table.schema.metadata or {}).get(b"huggingface")
    if metadata:
        features = json.loads(metadata).get("info", {}).get("features", {})
        feature = features.get(column, {})
        if feature.get("_type") == "ClassLabel" and feature.get("names"):
            return list(feature["names"])
    return None


def _parquet_parts(path, image_column, label_column):
    """(split, class names, labels, images) per Parquet file."""
    for split, table, file in _parquet_tables(path):
        names = _label_names(table, label_column)
        if names is None:
            raise ValueError(f"{file}: column {label_column!r} is not a ClassLabel (no names in the file's Hugging Face features)")
        yield split, names, table.column(label_column).to_pylist(), table.column(image_column).to_pylist(), os.path.basename(file)


def _datasets_parts(path, image_column, label_column):
    """(split, class names, labels, images) per split of what `datasets` loads from PATH."""
    import datasets

    saved = any(os.path.exists(os.path.join(path, name)) for name in ("dataset_info.json", "dataset_dict.json"))
    loaded = datasets.load_from_disk(path) if saved else datasets.load_dataset(path)
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("train", loaded)]
    for split_name, split in splits:
        feature = split.features[label_column]
        if not isinstance(feature, datasets.ClassLabel):
            raise ValueError(f"{path}: column {label_column!r} of split {split_name} is not a ClassLabel")
        split = split.cast_column(image_column, datasets.Image(decode=False))
        # Labels whole (small); images a row at a time, so a large split is never in memory at once.
        yield SPLIT_NAMES.get(split_name, split_name), feature.names, list(split[label_column]), _RowColumn(split, image_column), split_name


class _RowColumn:
    """`dataset[i][column]`, read when asked for."""

    def __init__(self, dataset, column):
        self.dataset, self.column = dataset, column

    def __getitem__(self, index):
        return self.dataset[index][self.column]


def _image_bytes(image, where):
    """The encoded bytes of an `Image` cell ({"bytes", "path"}), untouched."""
    if isinstance(image, dict):
        if image.get("bytes"):
            return image["bytes"], image.get("path")
        if image.get("path") and os.path.exists(image["path"]):
            with open(image["path"], "rb") as handle:
                return handle.read(), image["path"]
    if isinstance(image, (bytes, bytearray)):
        return bytes(image), None
    raise ValueError(f"{where}: the image cell holds neither bytes nor a readable path")


def ingest_hf(client: LoomClient, path, dataset, image_column="image", label_column="label",
              batch_files=64, batch_bytes=32 << 20, split=None, progress=None):
    """Uploads every image of PATH into `dataset`; returns totals over the upload summaries.

    A new dataset gets the ClassLabel's order as its labels: the first image of each class goes up
    first, one class at a time in label order (Loom labels a class that arrives later after the
    others), then everything else.
    """
    parquet = path.endswith(".parquet") and os.path.isfile(path) or (
        os.path.isdir(path) and not os.path.exists(os.path.join(path, "dataset_dict.json")) and bool(_data_files(path)))
    parts = list((_parquet_parts if parquet else _datasets_parts)(path, image_column, label_column))
    totals = {"files": 0, "added": 0, "duplicates": 0, "unchanged": 0, "updated": 0, "rejected": []}

    def upload(key, files):
        summary = client.ingest(dataset, key[1], files, split=key[0])
        for field in ("files", "added", "duplicates", "unchanged", "updated"):
            totals[field] += summary[field]
        totals["rejected"] += summary["rejected"]
        if progress:
            progress(totals)

    def named(part, index):
        row_split, names, labels, images, where = part
        data, source = _image_bytes(images[index], f"{where}:{index}")
        suffix = os.path.splitext(source)[1] if source else next(
            (s for magic, s in IMAGE_SUFFIXES.items() if data.startswith(magic)), ".bin")
        # The row's position keeps names unique within a class folder across uploads and runs.
        base = os.path.splitext(os.path.basename(source))[0][:160] if source else "image"
        return (split or row_split, names[labels[index]]), (f"{where}-{index:08d}-{base}{suffix}", data)

    firsts = {}  # label -> (part, row) of its first image
    for part_index, part in enumerate(parts):
        for index, label in enumerate(part[2]):
            firsts.setdefault(label, (part_index, index))
    for label in sorted(firsts):
        key, file = named(parts[firsts[label][0]], firsts[label][1])
        upload(key, [file])
    done = set(firsts.values())
    for part_index, part in enumerate(parts):
        pending = {}
        for index in range(len(part[2])):
            if (part_index, index) in done:
                continue
            key, file = named(part, index)
            batch = pending.setdefault(key, [])
            batch.append(file)
            if len(batch) >= batch_files or sum(len(d) for _, d in batch) >= batch_bytes:
                upload(key, pending.pop(key))
        for key, files in pending.items():
            upload(key, files)
    return totals
