#!/usr/bin/env python3
"""Peer: FFCV. One-time conversion: a .beton holding each image's original JPEG bytes (FFCV's
JPEG mode, not re-encoded), its label and its corpus index. Then FFCV's Loader with its own
RandomResizedCropRGBImageDecoder (libjpeg-turbo + OpenCV, numba-compiled pipeline) and
RandomHorizontalFlip, OrderOption.RANDOM over the page-cached file (os_cache=True: the .beton
is a few tens of MB and sits in memory, as the other peers' files do).

Why the encode is patched: RGBImageField(write_mode='jpg') decodes nothing but re-encodes the
pixels it is given (cv2.imencode at jpeg_quality), and 'raw' stores pixels; neither keeps the
bytes Loom serves. The patched encode stores the file's bytes as a 'jpg' entry with the size
from its header, which FFCV's decoders read exactly as they read their own.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PEER = "ffcv-beton"


def write_beton(path, corpus, workers):
    import numpy as np
    from ffcv.fields import IntField, RGBImageField
    from ffcv.fields.rgb_image import IMAGE_MODES
    from ffcv.writer import DatasetWriter
    from PIL import Image

    def encode_original_jpeg(self, destination, item, malloc):
        data, width, height = item
        destination["mode"] = IMAGE_MODES["jpg"]
        destination["height"], destination["width"] = height, width
        destination["data_ptr"], storage = malloc(data.nbytes)
        storage[:] = data

    # Class-wide, in this process only: the writer's workers are forked and inherit it.
    RGBImageField.encode = encode_original_jpeg

    class OriginalBytes:
        def __len__(self):
            return len(corpus)

        def __getitem__(self, i):
            with open(corpus.path(i), "rb") as f:
                data = np.frombuffer(f.read(), dtype=np.uint8)
            with Image.open(corpus.path(i)) as image:  # the header only: no decode
                width, height = image.size
            return (data, width, height), corpus.samples[i][1], i

    writer = DatasetWriter(path, {"image": RGBImageField(write_mode="jpg"), "label": IntField(), "index": IntField()},
                           num_workers=workers)
    writer.from_indexed_dataset(OriginalBytes())


def run(args, corpus):
    import numpy as np
    from ffcv.fields.decoders import IntDecoder, RandomResizedCropRGBImageDecoder
    from ffcv.loader import Loader, OrderOption
    from ffcv.transforms import RandomHorizontalFlip

    path = os.path.join(args.work, f"{os.path.basename(corpus.root)}.beton")
    start = time.perf_counter()
    write_beton(path, corpus, args.workers)
    conversion = time.perf_counter() - start
    common.log(PEER, f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB) in {conversion:.2f} s")

    loader = Loader(path, batch_size=args.batch, num_workers=args.workers, order=OrderOption.RANDOM, os_cache=True,
                    drop_last=False, seed=args.seed,
                    pipelines={"image": [RandomResizedCropRGBImageDecoder((args.size, args.size), scale=common.SCALE,
                                                                          ratio=common.RATIO),
                                         RandomHorizontalFlip()],
                               "label": [IntDecoder()], "index": [IntDecoder()]})

    def batches(epoch):
        # FFCV reuses its batch buffers, so the check reads each batch before the next is asked for.
        for pixels, labels, indices in loader:
            yield np.asarray(pixels), labels.reshape(-1), indices.reshape(-1)

    epochs, _ = common.run_epochs(PEER, args, corpus, batches)
    return {
        "pipeline": "FFCV Loader(OrderOption.RANDOM, os_cache=True), RandomResizedCropRGBImageDecoder + RandomHorizontalFlip, "
                    ".beton of the original JPEG bytes",
        "epochs": epochs,
        "conversion_s": conversion,
        "conversion": f".beton ({os.path.getsize(path) / 1e6:.1f} MB)",
        "versions": common.versions("ffcv", "numba", "numpy", "opencv-python", "torch"),
        "notes": ["epoch 0 includes numba compiling FFCV's pipeline"],
    }


if __name__ == "__main__":
    sys.exit(common.main(PEER, __doc__, run))
