"""Mixed precision: the dtype a training step computes in, and dynamic loss scaling."""

import dataclasses
import math
from typing import Literal, TypeAlias, TypeVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from .._dtypes import float_dtype
from .._validation import checked_choice, checked_int

PrecisionName: TypeAlias = Literal["float32", "bfloat16", "float16"]
"""The dtype a training step computes in: `"float32"` (no casting: the parameters' own
dtype), `"bfloat16"` or `"float16"` (with dynamic loss scaling)."""

PRECISION_NAMES: tuple[PrecisionName, ...] = ("float32", "bfloat16", "float16")

_Tree = TypeVar("_Tree")


@final
class DynamicLossScale(eqx.Module):
    """The loss scale of a float16 step, part of `TrainState.loss_scale`.

    The loss is multiplied by `scale` before the gradient is taken and the gradients are
    divided by it, so that small float16 gradients do not flush to zero. A step whose
    scaled gradients overflow is skipped and halves the scale (never below 1); after
    `growth_interval` finite steps in a row the scale doubles.

    Attributes:
        scale: the current loss scale (a float scalar).
        good_steps: finite steps since the scale last changed (an int32 scalar).
    """

    scale: Float[Array, ""]
    good_steps: Int[Array, ""]

    def adjusted(self, finite: Bool[Array, ""], growth_interval: int) -> "DynamicLossScale":
        """The scale after a step: halved if the step was not finite, doubled after
        `growth_interval` finite steps in a row, otherwise as it was."""
        grows = self.good_steps + 1 >= growth_interval
        two = jnp.asarray(2.0, self.scale.dtype)
        lowered = jnp.maximum(self.scale / two, jnp.ones_like(self.scale))
        scale = jnp.where(finite, jnp.where(grows, self.scale * two, self.scale), lowered)
        good_steps = jnp.where(finite & ~grows, self.good_steps + 1, 0).astype(jnp.int32)
        return DynamicLossScale(scale=scale, good_steps=good_steps)


@final
@dataclasses.dataclass(frozen=True)
class PrecisionPolicy:
    """A mixed-precision policy: parameters and optimizer state stay in float32, the model
    computes in `compute`, and the loss and KL are computed in float32.

    Under `"bfloat16"` or `"float16"` a training step casts the parameters (and the
    model's untrained floating state, such as BatchNorm statistics) to that dtype, runs the
    model on the data cast to it (`call_vae` and `encode_sample_decode` do that for any
    model whose parameters all have one 16-bit dtype), reads its outputs back in float32
    for the loss, and takes float32 gradients of the float32 parameters. Under
    `"float16"` the loss is scaled dynamically (see `DynamicLossScale`): a step whose
    scaled gradients overflow is skipped (it needs `nonfinite="skip"`) and lowers the
    scale. Evaluation runs on the float32 parameters. `TrainStep(precision="bfloat16")`
    takes a name for the defaults of the other fields.

    Attributes:
        compute: `"float32"` (no casting), `"bfloat16"` or `"float16"`.
        initial_loss_scale: float16's loss scale at step 0 (a power of 2).
        growth_interval: finite float16 steps in a row after which the scale doubles.
    """

    compute: PrecisionName = "float32"
    initial_loss_scale: float = 2.0**15
    growth_interval: int = 2000

    def __post_init__(self) -> None:
        checked_choice("PrecisionPolicy", "compute", self.compute, PRECISION_NAMES)
        scale = self.initial_loss_scale
        if (
            isinstance(scale, bool)
            or not isinstance(scale, int | float)
            or not math.isfinite(scale)
            or scale < 1
        ):
            raise ValueError(
                f"PrecisionPolicy.initial_loss_scale must be a finite number >= 1; got {scale!r}"
            )
        checked_int("PrecisionPolicy", "growth_interval", self.growth_interval, 1)

    @property
    def compute_dtype(self) -> jnp.dtype | None:
        """The dtype the model computes in; None for `"float32"` (nothing is cast)."""
        return None if self.compute == "float32" else jnp.dtype(self.compute)

    @property
    def scales_loss(self) -> bool:
        """Whether the loss is scaled dynamically (float16)."""
        return self.compute == "float16"

    def initial_scale(self) -> DynamicLossScale | None:
        """The loss scale of a state at step 0 (None unless the loss is scaled)."""
        if not self.scales_loss:
            return None
        return DynamicLossScale(
            scale=jnp.asarray(self.initial_loss_scale, float_dtype()),
            good_steps=jnp.zeros((), jnp.int32),
        )


def precision_policy(precision: object) -> PrecisionPolicy:
    """`precision` as a policy: a `PrecisionPolicy` as it is, a name with the defaults."""
    if isinstance(precision, PrecisionPolicy):
        return precision
    for name in PRECISION_NAMES:
        if isinstance(precision, str) and precision == name:
            return PrecisionPolicy(compute=name)
    raise ValueError(
        "precision must be 'float32', 'bfloat16', 'float16' or a PrecisionPolicy; "
        f"got {precision!r}"
    )


def _is_floating(leaf: object) -> bool:
    return isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jnp.floating)


def cast_floating(tree: _Tree, dtype: jnp.dtype) -> _Tree:
    """`tree` with its floating arrays cast to `dtype` (other leaves as they are)."""
    cast: _Tree = jax.tree.map(
        lambda leaf: leaf.astype(dtype) if _is_floating(leaf) else leaf, tree
    )
    return cast


def cast_like(tree: _Tree, like: _Tree) -> _Tree:
    """`tree` with each floating array cast back to the dtype of its twin in `like`."""
    cast: _Tree = jax.tree.map(
        lambda leaf, twin: leaf.astype(twin.dtype) if _is_floating(leaf) else leaf, tree, like
    )
    return cast
