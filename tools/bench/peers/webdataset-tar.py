#!/usr/bin/env python3
"""Peer: WebDataset. One-time conversion: tar shards (ShardWriter) holding each image's original
JPEG bytes as KEY.jpg, its label as KEY.cls and KEY = its corpus index; 4 shards per worker, so
every worker reads whole shards of about the same size. Then the pipeline its documentation
gives for training:

    WebDataset(shards, shardshuffle=SHARDS).shuffle(1000).decode("pil")
      .to_tuple("jpg", "cls", "__key__").map_tuple(train transform, int, int).batched(BATCH)
    WebLoader(dataset, batch_size=None, num_workers=WORKERS)

The train transform is common.pil_train_transform (torchvision's RandomResizedCrop parameters and
maths on the PIL image, flip, HWC uint8): WebDataset brings no transforms of its own. A shuffle
buffer drains at the end of each worker's shards, so an epoch still yields each image once.
"""

import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PEER = "webdataset-tar"


def write_shards(folder, corpus, shards):
    import webdataset as wds
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        os.remove(os.path.join(folder, old))
    per_shard = math.ceil(len(corpus) / shards)
    with wds.ShardWriter(os.path.join(folder, "shard-%06d.tar"), maxcount=per_shard, verbose=0) as sink:
        for i, (_, label) in enumerate(corpus.samples):
            with open(corpus.path(i), "rb") as f:
                sink.write({"__key__": f"{i:07d}", "jpg": f.read(), "cls": label})
    return sorted(os.path.join(folder, name) for name in os.listdir(folder))


def run(args, corpus):
    import functools

    import numpy as np
    import webdataset as wds

    start = time.perf_counter()
    urls = write_shards(os.path.join(args.work, "shards"), corpus, shards=4 * args.workers)
    conversion = time.perf_counter() - start
    megabytes = sum(os.path.getsize(u) for u in urls) / 1e6
    common.log(PEER, f"wrote {len(urls)} tar shards ({megabytes:.1f} MB) in {conversion:.2f} s")

    dataset = (wds.WebDataset(urls, shardshuffle=len(urls), empty_check=False)
               .shuffle(1000)
               .decode("pil")
               .to_tuple("jpg", "cls", "__key__")
               .map_tuple(functools.partial(common.pil_train_transform, size=args.size), int, int)
               .batched(args.batch, partial=True))
    loader = wds.WebLoader(dataset, batch_size=None, num_workers=args.workers)

    def batches(epoch):
        for pixels, labels, keys in loader:
            yield np.asarray(pixels), np.asarray(labels), np.asarray(keys)

    epochs, _ = common.run_epochs(PEER, args, corpus, batches)
    return {
        "pipeline": "WebDataset(shardshuffle=shards).shuffle(1000).decode('pil') + RandomResizedCrop/flip on PIL, "
                    "batched per worker, WebLoader",
        "epochs": epochs,
        "conversion_s": conversion,
        "conversion": f"{len(urls)} tar shards ({megabytes:.1f} MB)",
        "versions": common.versions("webdataset", "torch", "pillow", "numpy"),
        "notes": ["batches are made per worker, so each worker's last batch of an epoch is partial"],
    }


if __name__ == "__main__":
    sys.exit(common.main(PEER, __doc__, run))
