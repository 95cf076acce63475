"""Client for `loom serve`: the JSON API (LoomClient) and the batch stream (LoomIterableDataset)."""

from .client import LoomClient, LoomError, Batch
from .dataset import LoomIterableDataset, shard_for_worker

__all__ = ["LoomClient", "LoomError", "Batch", "LoomIterableDataset", "shard_for_worker"]
