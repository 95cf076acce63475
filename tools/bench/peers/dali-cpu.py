#!/usr/bin/env python3
"""Peer: NVIDIA DALI with no GPU (device_id=None: every operator on the CPU). No conversion: its
file reader reads the exported ImageFolder and labels by sorted class folder, as ImageFolder does.

    readers.file(shuffle_after_epoch=True, pad_last_batch=True)
      -> decoders.image_random_crop (ROI decode: only the crop's part of the JPEG is decoded)
      -> resize(SIZE x SIZE) -> flip(horizontal=coin_flip(0.5))          num_threads=WORKERS

shuffle_after_epoch gives a fresh permutation of the whole set each epoch (random_shuffle would
sample from a 1024-image buffer that spills across epochs, so no epoch would hold each image
once). pad_last_batch makes the last batch of an epoch full by repeating its last image; those
repeats are cut off here, as DALI's framework iterators do with LastBatchPolicy.PARTIAL. The key
is the file's path as the reader recorded it (its source_info).
"""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PEER = "dali-cpu"


def run(args, corpus):
    import numpy as np
    import nvidia.dali.fn as fn
    import nvidia.dali.types as types
    from nvidia.dali import pipeline_def

    @pipeline_def(batch_size=args.batch, num_threads=args.workers, device_id=None, seed=args.seed + 1)
    def pipeline():
        jpegs, labels = fn.readers.file(file_root=corpus.root, shuffle_after_epoch=True, pad_last_batch=True,
                                        name="reader")
        path = fn.get_property(jpegs, key="source_info")
        images = fn.decoders.image_random_crop(jpegs, device="cpu", output_type=types.RGB,
                                               random_area=list(common.SCALE), random_aspect_ratio=list(common.RATIO),
                                               num_attempts=10)
        images = fn.resize(images, resize_x=args.size, resize_y=args.size)
        images = fn.flip(images, horizontal=fn.random.coin_flip(probability=0.5))
        return images, labels, path

    pipe = pipeline()
    pipe.build()
    size = pipe.epoch_size("reader")
    if size != len(corpus):
        raise common.CheckFailed(f"DALI's reader found {size} files, the corpus has {len(corpus)}")
    steps = math.ceil(size / args.batch)

    def batches(epoch):
        for step in range(steps):
            images, labels, paths = pipe.run()
            keep = min(args.batch, size - step * args.batch)
            pixels = images.as_array()[:keep]
            keys = [corpus.key_of_path(np.asarray(paths.at(i)).tobytes().decode()) for i in range(keep)]
            yield pixels, labels.as_array().reshape(-1)[:keep], keys

    epochs, _ = common.run_epochs(PEER, args, corpus, batches)
    return {
        "pipeline": "DALI CPU pipeline (device_id=None): readers.file(shuffle_after_epoch) -> decoders.image_random_crop "
                    "-> resize -> flip",
        "epochs": epochs,
        "conversion_s": None,
        "versions": common.versions("nvidia-dali-cuda120", "nvidia-nvimgcodec-cu12", "numpy"),
        "notes": ["DALI prefetches (prefetch_queue_depth 2), so an epoch may start with batches made during the one before"],
    }


if __name__ == "__main__":
    sys.exit(common.main(PEER, __doc__, run))
