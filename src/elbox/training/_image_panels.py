"""Reconstructions and prior samples of a VAE, drawn as uint8 image grids for loggers."""

import math
from typing import Any, Final, final

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from .._custom_types import Model
from ..frameworks._seam import framework_of
from ..likelihoods._by_name import LIKELIHOOD_NAMES, reconstruction_loss
from ..likelihoods._likelihood import AbstractLikelihood

_BORDER: Final = 1


def decoder_mean(outputs: npt.ArrayLike, loss_type: object) -> npt.NDArray[np.float64]:
    """The mean of the likelihood a decoder's outputs stand for (`AbstractLikelihood.mean`:
    the sigmoid of logits under `bce_logits`, the continuous Bernoulli's mean, a Gaussian's
    mean block); the outputs themselves for no loss type or a loss that is no likelihood.
    `loss_type` is a likelihood, a name of one, or None."""
    if isinstance(loss_type, str) and loss_type in LIKELIHOOD_NAMES:
        loss_type = reconstruction_loss(loss_type)  # type: ignore[arg-type]  # a name, checked
    if isinstance(loss_type, AbstractLikelihood):
        outputs = loss_type.mean(jnp.asarray(outputs))
    return np.asarray(outputs, np.float64)


def to_display(
    values: npt.ArrayLike,
    image_shape: tuple[int, int, int],
    value_range: tuple[float, float] = (0.0, 1.0),
) -> npt.NDArray[np.float64]:
    """Examples as images `(n, height, width, channels)` with values in [0, 1]: the data's
    `value_range` mapped onto [0, 1], then clipped."""
    low, high = value_range
    array = np.asarray(values, np.float64).reshape(-1, *image_shape)
    if (low, high) != (0.0, 1.0) and high > low:
        array = (array - low) / (high - low)
    return np.clip(array, 0.0, 1.0)


def tile(images: npt.NDArray[np.float64], columns: int) -> npt.NDArray[np.uint8]:
    """Images `(n, height, width, channels)` in [0, 1] as one uint8 grid `(H, W, 1 or 3)`,
    `columns` images per row, one grey pixel between them. More than 3 channels: the first
    is shown."""
    count, height, width, channels = images.shape
    if channels not in (1, 3):
        images, channels = images[..., :1], 1
    rows = math.ceil(count / columns)
    grid = np.full(
        (
            rows * (height + _BORDER) + _BORDER,
            columns * (width + _BORDER) + _BORDER,
            channels,
        ),
        0.5,
    )
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top = _BORDER + row * (height + _BORDER)
        left = _BORDER + column * (width + _BORDER)
        grid[top : top + height, left : left + width] = image
    return np.round(grid * 255.0).astype(np.uint8)


def _host_local(leaf: jax.Array) -> jax.Array:
    # With several processes a replicated parameter spans devices of other processes; its
    # local copy lets process 0 draw alone.
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        return leaf.addressable_data(0)
    return leaf


def local_model(model: Model) -> Model:
    """The model with process-local copies of its (replicated) arrays."""
    if jax.process_count() == 1:
        return model
    return framework_of(model).map_arrays(model, _host_local)


@final
class ImagePanels:
    """What an experiment logger draws: reconstructions of fixed examples, and samples from
    the prior with a fixed noise, as uint8 grids.

    Args:
        examples: the examples to reconstruct, shaped as the model takes them.
        image_shape: `(height, width, channels)` of one example.
        value_range: the data's range, mapped onto [0, 1] for display.
        num_samples: how many samples from the prior.
        seed: the seed of the prior samples (the same in every drawing).
    """

    def __init__(
        self,
        examples: npt.ArrayLike,
        image_shape: tuple[int, int, int],
        *,
        value_range: tuple[float, float] = (0.0, 1.0),
        num_samples: int = 16,
        seed: int = 0,
    ) -> None:
        self.examples = np.asarray(examples, np.float32)
        self.image_shape = image_shape
        self.value_range = value_range
        self.num_samples = num_samples
        self.seed = seed

    def draw(self, model: Any, loss_type: object) -> dict[str, npt.NDArray[np.uint8]]:
        """`{"reconstructions": inputs over reconstructions, "samples": a grid}`.

        `model` needs `encode(x) -> (mean, logvar)` and `decode(z)`, as elbox's reference
        models have; the reconstructions decode the posterior means.
        """
        model = local_model(framework_of(model).inference(model))
        mean, _ = model.encode(jnp.asarray(self.examples))
        shown = (self.image_shape, self.value_range)
        inputs = to_display(self.examples, *shown)
        outputs = to_display(decoder_mean(model.decode(mean), loss_type), *shown)
        count = len(inputs)
        z = jax.random.normal(jax.random.key(self.seed), (self.num_samples, mean.shape[-1]))
        samples = to_display(decoder_mean(model.decode(z), loss_type), *shown)
        return {
            "reconstructions": tile(np.concatenate([inputs, outputs]), count),
            "samples": tile(samples, math.ceil(math.sqrt(self.num_samples))),
        }
