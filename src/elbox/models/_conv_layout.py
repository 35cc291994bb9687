"""The encoder layout of the convolutional VAEs, shared by both frameworks' versions."""

from collections.abc import Sequence
from typing import Final

BURGESS_CHANNELS: Final = (32, 32, 64, 64)
"""`BurgessVAE`'s encoder channels (its decoder's in reverse), as in Burgess et al. (2018)."""
BURGESS_HIDDEN: Final = 256
"""`BurgessVAE`'s dense width."""


def conv_layout(
    image_shape: tuple[int, int, int], channels: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, int, int]]:
    """The checked channels, and the shape `(height, width, channels)` after the encoder's
    convolutions."""
    if len(image_shape) != 3 or any(
        isinstance(size, bool) or not isinstance(size, int) or size < 1 for size in image_shape
    ):
        raise ValueError(
            f"image_shape must be (height, width, channels) of positive ints; got {image_shape!r}"
        )
    widths = tuple(channels)
    if not widths or any(
        isinstance(width, bool) or not isinstance(width, int) or width < 1 for width in widths
    ):
        raise ValueError(
            f"channels must be a non-empty sequence of positive ints; got {channels!r}"
        )
    height, width, _ = image_shape
    factor = 2 ** len(widths)
    if height % factor or width % factor:
        raise ValueError(
            f"image_shape {image_shape}: height and width must be divisible by "
            f"2**len(channels) = {factor}, as each of the {len(widths)} strided convolutions "
            f"halves them; got {height}x{width}"
        )
    return widths, (height // factor, width // factor, widths[-1])
