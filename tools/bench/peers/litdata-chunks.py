#!/usr/bin/env python3
"""Peer: Lightning's LitData. One-time conversion: optimize() writes its chunks from items
{"index": corpus index, "label": class, "jpeg": the file's original bytes}, WORKERS processes.
Then its streaming pipeline over the local chunks:

    StreamingDataset(chunks, shuffle=True, transform=decode with PIL + train transform)
    StreamingDataLoader(dataset, batch_size=BATCH, num_workers=WORKERS)

The bytes go in as bytes, and PIL decodes them in the transform: handed a PIL JPEG instead,
LitData would keep the file's bytes too, but decode with torchvision.io where torchvision is
importable (here it is not installed) and PIL otherwise; this way the decoder is stated.
"""

import functools
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PEER = "litdata-chunks"


def item(i, root, samples):
    with open(os.path.join(root, samples[i][0]), "rb") as f:
        return {"index": i, "label": samples[i][1], "jpeg": f.read()}


def train_item(sample, size):
    return common.pil_train_transform(common.decode_pil(sample["jpeg"]), size), sample["label"], sample["index"]


def run(args, corpus):
    import litdata

    out = os.path.join(args.work, "chunks")
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    litdata.optimize(fn=functools.partial(item, root=corpus.root, samples=corpus.samples), inputs=list(range(len(corpus))),
                     output_dir=out, chunk_bytes="64MB", num_workers=args.workers, start_method="fork", verbose=False)
    conversion = time.perf_counter() - start
    megabytes = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)) / 1e6
    common.log(PEER, f"optimize() wrote {megabytes:.1f} MB of chunks in {conversion:.2f} s")

    dataset = litdata.StreamingDataset(out, shuffle=True, drop_last=False, seed=args.seed,
                                       transform=functools.partial(train_item, size=args.size))
    loader = litdata.StreamingDataLoader(dataset, batch_size=args.batch, num_workers=args.workers)

    def batches(epoch):
        for pixels, labels, keys in loader:
            yield pixels.numpy(), labels.numpy(), keys.numpy()

    epochs, _ = common.run_epochs(PEER, args, corpus, batches)
    return {
        "pipeline": "LitData StreamingDataset(shuffle=True) over optimize()d chunks of the JPEG bytes, PIL decode + "
                    "RandomResizedCrop/flip, StreamingDataLoader",
        "epochs": epochs,
        "conversion_s": conversion,
        "conversion": f"litdata chunks ({megabytes:.1f} MB)",
        "versions": common.versions("litdata", "torch", "pillow", "numpy"),
    }


if __name__ == "__main__":
    sys.exit(common.main(PEER, __doc__, run))
