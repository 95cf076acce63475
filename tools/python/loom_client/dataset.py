"""LoomIterableDataset: the server's batch stream as an iterable of (pixels, labels) numpy arrays,
a torch.utils.data.IterableDataset when torch is importable."""

import os
from typing import Optional, Tuple

from .client import LoomClient

try:  # torch is optional
    import torch
    import torch.utils.data as _torch_data
    _Base = _torch_data.IterableDataset
except ImportError:  # pragma: no cover - depends on the environment
    torch = None
    _Base = object


def shard_for_worker(rank: int, world: int, worker: int, workers: int) -> Tuple[int, int]:
    """Worker w of W on rank r of R reads rank r*W + w of world R*W: disjoint, and together the epoch."""
    if not (0 <= rank < world and 0 <= worker < workers):
        raise ValueError(f"rank {rank}/{world}, worker {worker}/{workers} out of range")
    return rank * workers + worker, world * workers


def _distributed() -> Tuple[int, int]:
    if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _worker() -> Tuple[int, int]:
    if torch is not None:
        info = _torch_data.get_worker_info()
        if info is not None:
            return info.id, info.num_workers
    return 0, 1


class LoomIterableDataset(_Base):
    """Batches of one epoch from `loom serve`.

    Yields (pixels uint8 (N, H, W, 3), labels int64 (N,)) numpy arrays, already batched: use
    DataLoader(dataset, batch_size=None, num_workers=W). `set_epoch(e)` moves to the next epoch.
    """

    def __init__(self, url: str, selection: str, batch: int, size: int, augment: str = "train", seed: int = 0,
                 epoch: int = 0, token: Optional[str] = None, rank: Optional[int] = None, world: Optional[int] = None,
                 **extra):
        if _Base is not object:
            super().__init__()
        self.url, self.selection, self.batch, self.size = url, selection, batch, size
        self.augment, self.seed, self.epoch, self.token = augment, seed, epoch, token
        self.rank, self.world, self.extra = rank, world, extra
        self.cursor = None  # the last batch's resume token (single-worker use)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        rank, world = _distributed()
        if self.rank is not None:
            rank = self.rank
        if self.world is not None:
            world = self.world
        worker, workers = _worker()
        shard, shards = shard_for_worker(rank, world, worker, workers)
        client = LoomClient(self.url, token=self.token)
        for item in client.batches(self.selection, batch=self.batch, size=self.size, augment=self.augment, seed=self.seed,
                                   epoch=self.epoch, rank=shard, world=shards, **self.extra):
            self.cursor = item.cursor
            yield item.pixels, item.labels
