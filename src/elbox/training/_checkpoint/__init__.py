"""Checkpoints on orbax-checkpoint: the store, and the on-disk layout, retention policies and
file manifest it is made of, one concept per module."""

from ._errors import CheckpointError as CheckpointError
from ._store import CheckpointStore as CheckpointStore
