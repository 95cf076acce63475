"""Client for `loom serve`: the JSON API (LoomClient), the batch stream (LoomIterableDataset), and the
shared-memory ring of `loom stream --shm` (ShmRing)."""

from .client import LoomClient, LoomError, ServerBusy, Batch
from .dataset import LoomIterableDataset, shard_for_worker
from .shm import ShmRing

__all__ = ["LoomClient", "LoomError", "ServerBusy", "Batch", "LoomIterableDataset", "shard_for_worker", "ShmRing"]
