"""Mini-batches gathered lazily by index, each process taking its share of every batch."""

from collections.abc import Iterator
from typing import Any, Final, Protocol, final, runtime_checkable

import numpy as np
import numpy.typing as npt
from jaxtyping import Int

from ._batches import _flag, _positive_int


@runtime_checkable
class RowSource(Protocol):
    """Anything that reads examples by index: `take(rows)` returns the examples at `rows`
    (a [`DataFile`][elbox.data.DataFile] is one)."""

    def take(self, rows: Int[np.ndarray, " rows"]) -> npt.NDArray[Any]:
        """The examples at `rows`, stacked along a new first axis."""
        ...


def _checked_indices(indices: object) -> npt.NDArray[np.int64]:
    array = np.asarray(indices)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"indices must be a 1-D array of integers; got {array!r}")
    if array.size == 0:
        raise ValueError("indices is empty: there is nothing to batch")
    return array.astype(np.int64)


@final
class IndexedBatches:
    """A re-iterable loader of mini-batches of the examples at `indices` of a source.

    Made by [`indexed_batches`][elbox.data.indexed_batches]; see there for the arguments.

    Attributes:
        batch_size: examples per global batch (over all processes).
        num_examples: how many indices there are.
        shuffle: whether each epoch is a fresh permutation.
        seed: the seed of the permutations.
        drop_last: whether the last, partial batch of an epoch is dropped.
        process_count: how many processes share each batch.
        process_index: which share this loader yields.
    """

    batch_size: Final[int]
    num_examples: Final[int]
    shuffle: Final[bool]
    seed: Final[int]
    drop_last: Final[bool]
    process_count: Final[int]
    process_index: Final[int]

    def __init__(
        self,
        source: RowSource | npt.NDArray[Any],
        indices: Int[np.ndarray, " n"],
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
        process_count: int = 1,
        process_index: int = 0,
    ) -> None:
        if not isinstance(source, np.ndarray | RowSource):
            raise TypeError(
                "source must be a NumPy array or have a take(rows) method (such as "
                f"elbox.data.DataFile); got {type(source).__name__}"
            )
        self._source = source
        self._indices = _checked_indices(indices)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.shuffle = _flag("shuffle", shuffle)
        self.drop_last = _flag("drop_last", drop_last)
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a non-negative int; got {seed!r}")
        self.seed = int(seed)
        self.process_count = _positive_int("process_count", process_count)
        if (
            isinstance(process_index, bool)
            or not isinstance(process_index, int | np.integer)
            or not 0 <= process_index < self.process_count
        ):
            raise ValueError(
                f"process_index must be an int in [0, {self.process_count}); got {process_index!r}"
            )
        self.process_index = int(process_index)
        self.num_examples = len(self._indices)
        if self.drop_last and self.batch_size > self.num_examples:
            raise ValueError(
                f"batch_size={self.batch_size} is larger than the {self.num_examples} "
                "examples, so with drop_last=True every epoch would yield no batch at all; "
                "lower batch_size or pass drop_last=False"
            )
        self._epochs_started = 0
        sizes = {self.batch_size} if self.drop_last else {self.batch_size, self._last_size()}
        uneven = sorted(size for size in sizes if size % self.process_count)
        if uneven:
            raise ValueError(
                f"a batch of {uneven[0]} examples does not split evenly over "
                f"{self.process_count} processes; use a batch_size divisible by "
                f"{self.process_count} (and drop_last=True, or a number of examples that "
                "leaves a last batch divisible by it too)"
            )

    def _last_size(self) -> int:
        rest = self.num_examples % self.batch_size
        return rest or self.batch_size

    def __len__(self) -> int:
        """The number of batches in each epoch."""
        full, rest = divmod(self.num_examples, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def order(self, epoch: int) -> Int[np.ndarray, " num_examples"]:
        """The indices in the order epoch `epoch` visits them.

        `indices[np.random.default_rng([seed, epoch]).permutation(num_examples)]` when
        shuffling, `indices` otherwise: for `indices = arange(n)` the same order as
        [`batches`][elbox.data.batches] with the same seed.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int; got {epoch!r}")
        if not self.shuffle:
            return self._indices
        permutation = np.random.default_rng([self.seed, int(epoch)]).permutation(self.num_examples)
        return self._indices[permutation]

    def for_epoch(self, epoch: int) -> Iterator[npt.NDArray[Any]]:
        """This process's share of each batch of epoch `epoch` (counted from 0).

        Global batch `b` is `order(epoch)[b * batch_size : (b + 1) * batch_size]`; process
        `p` of `P` reads its `p`-th of `P` equal, consecutive parts.
        """
        order = self.order(epoch)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            rows = order[start : start + self.batch_size]
            share = len(rows) // self.process_count
            mine = rows[self.process_index * share : (self.process_index + 1) * share]
            yield self._read(mine)

    def _read(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        if isinstance(self._source, np.ndarray):
            return self._source[rows]
        return self._source.take(rows)

    def __iter__(self) -> Iterator[npt.NDArray[Any]]:
        """The batches of the next epoch: the k-th iteration is `for_epoch(k)`."""
        epoch = self._epochs_started
        self._epochs_started += 1
        return self.for_epoch(epoch)

    def __repr__(self) -> str:
        return (
            f"IndexedBatches(num_examples={self.num_examples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last}, "
            f"process {self.process_index} of {self.process_count})"
        )


def indexed_batches(
    source: RowSource | npt.NDArray[Any],
    indices: Int[np.ndarray, " n"],
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = True,
    process_count: int = 1,
    process_index: int = 0,
) -> IndexedBatches:
    """Mini-batches of the examples at `indices`, read from `source` only when needed.

    Epoch `k` visits `indices` in the order `np.random.default_rng([seed, k])` permutes
    them (as [`batches`][elbox.data.batches] does), and each batch is read with
    `source.take(rows)` (or `source[rows]` for an array) as the loop asks for it, so a
    memory-mapped [`DataFile`][elbox.data.DataFile] is never read whole.

    With several processes (`elbox train --distributed`, or `Trainer(..., mesh=...)` after
    `elbox.distributed.initialize()`), each builds the same loader with its
    `process_index` and `process_count = jax.process_count()`: `batch_size` is then the
    global batch, and each process reads only its consecutive share of it, so together
    they feed exactly the batches one process would.

    Args:
        source: a [`DataFile`][elbox.data.DataFile] (or anything with `take(rows)`), or a
            NumPy array indexed along its first axis.
        indices: the examples to draw batches from, e.g. `split.train`.
        batch_size: examples per global batch.
        shuffle: a fresh permutation each epoch; `False` keeps the order of `indices`.
        seed: the seed of the permutations.
        drop_last: drop the last, partial batch.
        process_count: how many processes share each batch.
        process_index: this process's index, from 0.

    Returns:
        An [`IndexedBatches`][elbox.data.IndexedBatches] loader with `for_epoch(k)`, which
        `Trainer.fit` calls, so a resumed run sees the same batches.

    Raises:
        ValueError: for empty or non-integer indices, a `batch_size` larger than the data
            with `drop_last=True`, or batches that do not split evenly over the processes.

    Example:
        >>> import numpy as np
        >>> from elbox.data import indexed_batches
        >>> data = np.arange(10) * 10
        >>> loader = indexed_batches(data, np.array([1, 3, 5, 7]), 2, shuffle=False)
        >>> [batch.tolist() for batch in loader]
        [[10, 30], [50, 70]]
        >>> half = indexed_batches(data, np.array([1, 3, 5, 7]), 2, shuffle=False,
        ...                        process_count=2, process_index=1)
        >>> [batch.tolist() for batch in half]
        [[30], [70]]
    """
    return IndexedBatches(
        source,
        indices,
        batch_size,
        shuffle=shuffle,
        seed=seed,
        drop_last=drop_last,
        process_count=process_count,
        process_index=process_index,
    )
