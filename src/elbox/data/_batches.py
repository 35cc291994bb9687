"""Mini-batches of NumPy arrays, in an order fixed by `(seed, epoch)` alone."""

from collections.abc import Iterator, Mapping
from typing import Any, Final, Generic, cast, final, overload

import jax
import numpy as np
import numpy.typing as npt
from jaxtyping import Int

from .._custom_types import AnyArray, LoaderItemT


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)


def _host(value: object) -> object:
    return np.asarray(value) if isinstance(value, jax.Array) else value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def _checked_arrays(
    array: AnyArray | Mapping[str, AnyArray],
) -> dict[str | None, npt.NDArray[Any]]:
    """The input as a dict of arrays with one leading size (key `None` for an array)."""
    arrays: dict[str | None, npt.NDArray[Any]]
    if isinstance(array, np.ndarray | jax.Array):
        arrays = {None: np.asarray(array)}
    elif isinstance(array, Mapping):
        if not array:
            raise ValueError("the mapping of arrays is empty: give at least one array")
        arrays = {}
        for name, given in array.items():
            host = _host(given)
            if not isinstance(host, np.ndarray):
                raise ValueError(
                    f"array[{name!r}] must be a NumPy or JAX array; got {type(host).__name__} "
                    "(convert it with np.asarray)"
                )
            arrays[name] = host
    else:
        raise ValueError(
            "batches takes a NumPy or JAX array, or a mapping of such arrays; "
            f"got {type(array).__name__} (convert it with np.asarray)"
        )
    for key, value in arrays.items():
        if value.ndim == 0:
            name = "array" if key is None else f"array[{key!r}]"
            raise ValueError(
                f"{name} is 0-dimensional (a scalar); batches splits an array along its "
                "leading axis, so it needs at least one dimension"
            )
    sizes = {key: value.shape[0] for key, value in arrays.items()}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{key!r}: {size}" for key, size in sizes.items())
        raise ValueError(f"the arrays must have the same leading size; got {listed}")
    if next(iter(sizes.values())) == 0:
        raise ValueError("the array is empty (leading size 0): there is nothing to batch")
    return arrays


@final
class Batches(Generic[LoaderItemT]):
    """A re-iterable loader of mini-batches over a NumPy array or a mapping of arrays.

    Made by [`batches`][elbox.data.batches]; see there for the arguments. Each epoch's
    order depends only on `(seed, epoch)`, so a resumed run that calls
    `for_epoch(epoch)` sees exactly the batches it would have seen.

    Attributes:
        batch_size: examples per batch.
        num_examples: the leading size of the data.
        shuffle: whether each epoch is a fresh permutation.
        seed: the seed of the permutations.
        drop_last: whether the last, partial batch of an epoch is dropped.
    """

    batch_size: Final[int]
    num_examples: Final[int]
    shuffle: Final[bool]
    seed: Final[int]
    drop_last: Final[bool]

    def __init__(
        self,
        array: AnyArray | Mapping[str, AnyArray],
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        self.batch_size = _positive_int("batch_size", batch_size)
        self.shuffle = _flag("shuffle", shuffle)
        self.drop_last = _flag("drop_last", drop_last)
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a non-negative int; got {seed!r}")
        self.seed = int(seed)
        self._arrays = _checked_arrays(array)
        self._is_mapping = isinstance(array, Mapping)
        self.num_examples = next(iter(self._arrays.values())).shape[0]
        if self.drop_last and self.batch_size > self.num_examples:
            raise ValueError(
                f"batch_size={self.batch_size} is larger than the {self.num_examples} "
                "examples, so with drop_last=True every epoch would yield no batch at all; "
                "lower batch_size or pass drop_last=False"
            )
        self._epochs_started = 0

    def __len__(self) -> int:
        """The number of batches in each epoch."""
        full, rest = divmod(self.num_examples, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def order(self, epoch: int) -> Int[np.ndarray, " num_examples"]:
        """The order in which epoch `epoch` visits the examples.

        `np.random.default_rng([seed, epoch]).permutation(num_examples)` when shuffling,
        `arange(num_examples)` otherwise.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int; got {epoch!r}")
        if not self.shuffle:
            return np.arange(self.num_examples)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(self.num_examples)

    def for_epoch(self, epoch: int) -> Iterator[LoaderItemT]:
        """The batches of epoch `epoch` (counted from 0), as NumPy copies.

        The order depends only on `(seed, epoch)`; this is what a training loop that may be
        resumed calls.

        Example:
            >>> import numpy as np
            >>> from elbox.data import batches
            >>> loader = batches(np.arange(6), 3, seed=1)
            >>> order = np.random.default_rng([1, 2]).permutation(6)
            >>> [b.tolist() for b in loader.for_epoch(2)] == order.reshape(2, 3).tolist()
            True
        """
        return self._batches(self.order(epoch))

    def _batches(self, order: Int[np.ndarray, " num_examples"]) -> Iterator[LoaderItemT]:
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            rows = order[start : start + self.batch_size]
            chunk = {key: value[rows] for key, value in self._arrays.items()}
            # `LoaderItemT` is the dict type for a mapping and the array type for an array.
            yield cast(LoaderItemT, chunk if self._is_mapping else chunk[None])

    def __iter__(self) -> Iterator[LoaderItemT]:
        """The batches of the next epoch: the k-th iteration over the loader is
        `for_epoch(k)`, so a plain `for batch in loader` reshuffles every epoch."""
        epoch = self._epochs_started
        self._epochs_started += 1
        return self.for_epoch(epoch)

    def __repr__(self) -> str:
        return (
            f"Batches(num_examples={self.num_examples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last})"
        )


@overload
def batches(
    array: AnyArray,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = True,
) -> Batches[npt.NDArray[Any]]: ...


@overload
def batches(
    array: Mapping[str, AnyArray],
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = True,
) -> Batches[dict[str, npt.NDArray[Any]]]: ...


def batches(
    array: AnyArray | Mapping[str, AnyArray],
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = True,
) -> Batches[Any]:
    """A re-iterable loader of mini-batches over `array` along its leading axis.

    Epoch `k` visits the examples in the order
    `np.random.default_rng([seed, k]).permutation(n)` (in their natural order when
    `shuffle=False`), so the batches depend only on `(seed, k)`. `loader.for_epoch(k)`
    gives them directly; iterating over the loader gives epoch 0 the first time, epoch 1
    the second, and so on.

    Args:
        array: a NumPy (or JAX) array of shape `(n, ...)`, or a mapping of such arrays with the
            same leading size `n` (e.g. `{"image": x, "label": y}`), which yields dicts
            whose rows stay aligned.
        batch_size: examples per batch.
        shuffle: draw a fresh permutation each epoch; `False` keeps the natural order.
        seed: the seed of the permutations (a non-negative int).
        drop_last: drop the last, partial batch, so that every batch has the same shape
            and a jitted step compiles once; `False` keeps it.

    Returns:
        A [`Batches`][elbox.data.Batches] loader; `len(loader)` is the number of batches
        per epoch. Batches are NumPy copies with the input's dtype.

    Raises:
        ValueError: for a `batch_size` that is not a positive int, a 0-dimensional or
            empty array, arrays of different leading sizes in a mapping, or a `batch_size`
            larger than the data with `drop_last=True` (no batch at all).

    Example:
        >>> import numpy as np
        >>> from elbox.data import batches
        >>> loader = batches(np.arange(10), 4, shuffle=False)
        >>> len(loader), [b.tolist() for b in loader]
        (2, [[0, 1, 2, 3], [4, 5, 6, 7]])
        >>> ordered = batches(np.arange(10), 4, shuffle=False, drop_last=False)
        >>> [b.tolist() for b in ordered]
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
        >>> pairs = batches({"x": np.arange(6), "y": -np.arange(6)}, 3, seed=0)
        >>> all((b["x"] == -b["y"]).all() for b in pairs)
        True
    """
    return Batches(array, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
