"""Ground-truth data restricted to some of its factor codes: held-out scoring sets, and
grids with fewer factors."""

from collections.abc import Sequence
from typing import Any, Protocol, final, runtime_checkable

import numpy as np
import numpy.typing as npt
from jaxtyping import Integer

Random = np.random.RandomState | np.random.Generator


@runtime_checkable
class FactorData(Protocol):
    """What [`FactorSubset`][elbox.data.FactorSubset] needs of the data it restricts: the
    two members of disentanglement_lib's ground-truth data that map factor codes to
    observations ([`elbox.metrics.GroundTruthData`][elbox.metrics.GroundTruthData] has
    them, and so do [`ShapesGrid`][elbox.data.ShapesGrid] and the standard `dsprites`)."""

    @property
    def factors_num_values(self) -> Sequence[int]:
        """The number of values of each factor; factor k takes the values 0 to n_k - 1."""
        ...

    def sample_observations_from_factors(
        self, factors: npt.NDArray[Any], random_state: Any, /
    ) -> npt.NDArray[Any]:
        """One observation per row of `factors`, a NumPy array of shape `(num, ...)`."""
        ...


def _integers(random_state: Random, high: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """One draw from 0 .. high[i] - 1 for each i."""
    if isinstance(random_state, np.random.Generator):
        return random_state.integers(0, high).astype(np.int64)
    return np.asarray(random_state.randint(0, high), np.int64)


@final
class FactorSubset:
    """Ground-truth data that draws only the given factor codes of another.

    `data` is ground-truth data in disentanglement_lib's sense (such as
    [`ShapesGrid`][elbox.data.ShapesGrid]); `codes` are distinct rows of its factor codes.
    The subset is ground-truth data too: `sample_factors` draws rows of `codes` uniformly,
    and `sample_observations_from_factors` refuses a code outside them, so images drawn
    from the subset are never images outside it. Two uses:

    - **held-out data**: split a grid's codes into disjoint sets (training, test, scoring),
      so that the disentanglement scores see only images the model never trained on;
    - **fewer factors**: the codes of a grid with some factors held at one value; with
      `drop_constant=True` those factors are left out of the codes the subset shows.

    The FactorVAE and beta-VAE scores fix one factor and vary the others: they draw with
    `sample_factors_sharing`, which draws codes of the subset that share the given
    factor's value, instead of overwriting one factor of a free draw (which could leave
    the subset).

    A factor's values in the subset are numbered 0 .. n - 1 in increasing order of the
    values in `data` (`factor_values[k]` maps them back).

    Args:
        data: ground-truth data with `factors_num_values` and
            `sample_observations_from_factors`.
        codes: distinct factor codes of `data`, ints of shape `(num, num_factors)`.
        drop_constant: leave out the factors that take one value over `codes`.

    Raises:
        ValueError: for codes of the wrong shape or type, outside `data`'s grid, repeated,
            or none.

    Example:
        >>> import numpy as np
        >>> from elbox.data import FactorSubset, ShapesGrid
        >>> grid = ShapesGrid(size=16, num_rotations=1)
        >>> every = np.argwhere(np.ones(grid.factors_num_values, bool))
        >>> upright = FactorSubset(grid, every, drop_constant=True)
        >>> upright.factors_num_values  # shape, scale, x, y: rotation left out
        (3, 6, 6, 6)
        >>> factors = upright.sample_factors(4, np.random.RandomState(0))
        >>> upright.sample_observations_from_factors(factors).shape
        (4, 16, 16, 1)
    """

    def __init__(
        self,
        data: FactorData,
        codes: Integer[np.ndarray, "num factors"],
        *,
        drop_constant: bool = False,
    ) -> None:
        sizes = tuple(int(size) for size in data.factors_num_values)
        full = np.asarray(codes)
        if full.ndim != 2 or full.shape[1] != len(sizes) or full.shape[0] == 0:
            raise ValueError(
                f"codes must have shape (num, {len(sizes)}) with num >= 1; got shape {full.shape}"
            )
        if not np.issubdtype(full.dtype, np.integer):
            raise ValueError(f"codes must be integer factor codes; got dtype {full.dtype}")
        full = full.astype(np.int64)
        outside = (full < 0) | (full >= np.asarray(sizes))
        if outside.any():
            row, column = np.argwhere(outside)[0]
            raise ValueError(
                f"codes[{row}, {column}] = {full[row, column]} is outside the data's grid: "
                f"factor {column} takes the values 0 to {sizes[column] - 1}"
            )
        flat = np.ravel_multi_index(full.T, sizes)
        if np.unique(flat).size != flat.size:
            raise ValueError("codes must be distinct: a code appears twice")
        self.data = data
        """The data the codes are drawn from."""
        self.codes: npt.NDArray[np.int64] = full
        """The subset's codes, as codes of `data`."""
        values = [np.unique(full[:, k]) for k in range(len(sizes))]
        self.kept: tuple[int, ...] = tuple(
            k for k in range(len(sizes)) if not (drop_constant and values[k].size == 1)
        )
        """The factors of `data` that the subset's codes show, in order."""
        self.factor_values: tuple[npt.NDArray[np.int64], ...] = tuple(values[k] for k in self.kept)
        """For each shown factor, the values of `data`'s factor that its values 0 .. n - 1
        stand for."""
        self.factors_num_values: tuple[int, ...] = tuple(v.size for v in self.factor_values)
        """The number of values of each factor the subset shows."""
        names = getattr(data, "factor_names", None)
        self.factor_names: tuple[str, ...] = (
            tuple(str(names[k]) for k in self.kept)
            if names is not None
            else tuple(f"factor_{k}" for k in self.kept)
        )
        """The shown factors' names (`data`'s, where it has them)."""
        self.observation_shape: tuple[int, ...] | None = getattr(data, "observation_shape", None)
        """The shape of one observation (`data`'s, where it has one)."""
        shown = [np.searchsorted(values[k], full[:, k]) for k in self.kept]
        self._shown: npt.NDArray[np.int64] = np.stack(shown, axis=1).astype(np.int64)
        self._template = full[0].copy()
        self._members = np.sort(np.ravel_multi_index(self._shown.T, self.factors_num_values))
        # Per factor: the rows sorted by its value, and where each value's rows start.
        self._order = [np.argsort(column, kind="stable") for column in self._shown.T]
        self._counts = [
            np.bincount(column, minlength=size)
            for column, size in zip(self._shown.T, self.factors_num_values, strict=True)
        ]
        self._starts = [np.cumsum(counts) - counts for counts in self._counts]

    def __len__(self) -> int:
        """How many codes the subset holds."""
        return len(self.codes)

    def __repr__(self) -> str:
        return f"FactorSubset({self.data!r}, {len(self)} codes, factors {self.kept})"

    @property
    def num_factors(self) -> int:
        """How many factors the subset's codes show."""
        return len(self.factors_num_values)

    def sample_factors(
        self, num: int, random_state: np.random.RandomState | np.random.Generator
    ) -> Integer[np.ndarray, "num factors"]:
        """`num` codes drawn uniformly (with replacement) from the subset's, int64."""
        if isinstance(num, bool) or not isinstance(num, int) or num < 0:
            raise ValueError(f"num must be a non-negative int; got {num!r}")
        rows = _integers(random_state, np.full(num, len(self), np.int64))
        codes: npt.NDArray[np.int64] = self._shown[rows]
        return codes

    def sample_factors_sharing(
        self,
        factors: Integer[np.ndarray, "num factors"],
        index: int,
        random_state: np.random.RandomState | np.random.Generator,
    ) -> Integer[np.ndarray, "num factors"]:
        """For each row of `factors`, a code drawn uniformly from the subset's codes whose
        factor `index` has that row's value: the draw of the FactorVAE and beta-VAE scores
        when they fix one factor.

        Raises:
            ValueError: for a bad `index`, or a value no code of the subset has.
        """
        if not 0 <= index < self.num_factors:
            raise ValueError(f"index must be in 0 .. {self.num_factors - 1}; got {index}")
        wanted = np.asarray(factors)[:, index].astype(np.int64)
        size = self.factors_num_values[index]
        if ((wanted < 0) | (wanted >= size)).any() or (self._counts[index][wanted] == 0).any():
            raise ValueError(f"factor {index} has a value that no code of the subset has")
        offsets = _integers(random_state, self._counts[index][wanted])
        rows = self._order[index][self._starts[index][wanted] + offsets]
        codes: npt.NDArray[np.int64] = self._shown[rows]
        return codes

    def sample_observations_from_factors(
        self,
        factors: Integer[np.ndarray, "num factors"],
        random_state: np.random.RandomState | np.random.Generator | None = None,
    ) -> npt.NDArray[Any]:
        """The observation of each row of `factors` (codes of the subset), from `data`.

        Raises:
            ValueError: for codes of the wrong shape or type, or not in the subset.
        """
        codes = np.asarray(factors)
        if codes.ndim != 2 or codes.shape[1] != self.num_factors:
            raise ValueError(
                f"factors must have shape (num, {self.num_factors}); got shape {codes.shape}"
            )
        if not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"factors must be integer codes; got dtype {codes.dtype}")
        sizes = np.asarray(self.factors_num_values)
        inside: npt.NDArray[np.bool_] = np.all((codes >= 0) & (codes < sizes), axis=1)
        flat = np.ravel_multi_index(np.where(inside[:, None], codes, 0).T, self.factors_num_values)
        member = inside & np.isin(flat, self._members)
        if not member.all():
            row = int(np.flatnonzero(~member)[0])
            raise ValueError(f"factors[{row}] = {codes[row].tolist()} is not a code of the subset")
        full = np.tile(self._template, (len(codes), 1))
        for column, (k, values) in enumerate(zip(self.kept, self.factor_values, strict=True)):
            full[:, k] = values[codes[:, column]]
        return self.data.sample_observations_from_factors(full, random_state)
