#!/usr/bin/env python3
"""Peer: MosaicML Streaming. One-time conversion: MDSWriter shards (no compression) with columns
jpeg (the file's original bytes), label and index (its corpus index). Then:

    StreamingDataset(local=shards, shuffle=True, batch_size=BATCH), whose get_item decodes with
    PIL and applies the train transform
    torch DataLoader(dataset, batch_size=BATCH, num_workers=WORKERS)

mosaicml-streaming imports torchvision (for its vision datasets), so the same CUDA-build
workaround as the torchvision peers applies before `import streaming`.
"""

import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PEER = "mosaic-mds"


def run(args, corpus):
    note = common.import_torchvision()
    import streaming
    from streaming import MDSWriter, StreamingDataset
    from streaming.base.util import clean_stale_shared_memory
    from torch.utils.data import DataLoader

    out = os.path.join(args.work, "mds")
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    with MDSWriter(out=out, columns={"jpeg": "bytes", "label": "int", "index": "int"}, size_limit="16mb") as writer:
        for i, (_, label) in enumerate(corpus.samples):
            with open(corpus.path(i), "rb") as f:
                writer.write({"jpeg": f.read(), "label": label, "index": i})
    conversion = time.perf_counter() - start
    megabytes = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)) / 1e6
    common.log(PEER, f"MDSWriter wrote {megabytes:.1f} MB in {conversion:.2f} s")

    size = args.size

    class TrainSet(StreamingDataset):
        def get_item(self, index):
            sample = super().get_item(index)
            return common.pil_train_transform(common.decode_pil(sample["jpeg"]), size), sample["label"], sample["index"]

    # A killed earlier run leaves its shared-memory segments behind, and a new dataset refuses them.
    clean_stale_shared_memory()
    dataset = TrainSet(local=out, shuffle=True, shuffle_seed=args.seed, batch_size=args.batch)
    loader = DataLoader(dataset, batch_size=args.batch, num_workers=args.workers)

    def batches(epoch):
        for pixels, labels, keys in loader:
            yield pixels.numpy(), labels.numpy(), keys.numpy()

    epochs, _ = common.run_epochs(PEER, args, corpus, batches)
    return {
        "pipeline": "MosaicML StreamingDataset(shuffle=True) over MDS shards of the JPEG bytes, PIL decode + "
                    "RandomResizedCrop/flip in get_item, torch DataLoader",
        "epochs": epochs,
        "conversion_s": conversion,
        "conversion": f"MDS shards ({megabytes:.1f} MB)",
        "versions": {**common.versions("mosaicml-streaming", "torch", "pillow", "numpy"), "streaming": streaming.__version__},
        "notes": [note] if note else [],
    }


if __name__ == "__main__":
    sys.exit(common.main(PEER, __doc__, run))
