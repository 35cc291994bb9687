"""Equinox's `Conv2d` and `ConvTranspose2d`, computed in the forms XLA's CPU backend runs
fast (see `_conv_ops`): the same parameters, initialisation and function."""

from collections.abc import Sequence
from typing import Any, final

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, PRNGKeyArray

from ._conv_ops import Padding, conv, dilated_correlation


def _check_supported(layer: str, reference: Any) -> None:
    """Refuse what only Equinox's own layer computes, in one line."""
    unsupported = []
    if reference.dilation != (1, 1):
        unsupported.append(f"dilation={reference.dilation}")
    if reference.groups != 1:
        unsupported.append(f"groups={reference.groups}")
    if reference.padding_mode != "ZEROS":
        unsupported.append(f"padding_mode={reference.padding_mode!r}")
    if unsupported:
        raise ValueError(
            f"elbox's {layer} supports dilation 1, groups 1 and zero padding; got "
            f"{', '.join(unsupported)}: use equinox.nn.{layer} for those"
        )


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (first, second)


def _dilated_padding(
    kernel: tuple[int, int],
    stride: tuple[int, int],
    output_padding: tuple[int, int],
    padding: str | tuple[tuple[int, int], ...],
) -> Padding:
    """Equinox's padding of the stride-dilated input of a transposed convolution
    (relationship 14 of Dumoulin and Visin, arXiv:1603.07285), as `equinox.nn.ConvTranspose`
    computes it."""
    pads = []
    for axis in range(2):
        k, s, extra = kernel[axis], stride[axis], output_padding[axis]
        if isinstance(padding, str):
            if padding == "VALID":
                before = after = 0
            else:
                total = k - 1 - s + extra + 1
                extra = -total if total < 0 else 0
                total = max(total, 0)
                before = (total + (1 if padding == "SAME_LOWER" else 0)) // 2
                after = total - before
        else:
            before, after = padding[axis]
        pads.append((k - 1 - before, k - 1 - after + extra))
    return (pads[0], pads[1])


@final
class Conv2d(eqx.Module):
    """`equinox.nn.Conv2d`, computed in the forms XLA's CPU backend runs fast.

    The same signature, parameters (`weight` of shape `(out, in, kh, kw)`, `bias` of shape
    `(out, 1, 1)`), initialisation (the same `key` gives the same weights) and function
    as `equinox.nn.Conv2d`: a model's checkpoints load into either. Only how it is
    computed differs. A strided convolution's input gradient is a transposed convolution,
    which XLA's CPU backend runs slowly, and is computed here as the exact sub-pixel
    convolution; a thin stride-1 convolution (at most 32 kernel taps times output
    channels, such as a 3x3 output layer to an image's channels) is computed as matrix
    products and shifted sums. Use it for strided convolutions that are not a model's
    first layer, and for thin output layers; other stride-1 convolutions gain nothing.

    Args:
        in_channels: the input's channels.
        out_channels: the output's channels.
        kernel_size: an int or `(kh, kw)`.
        stride: an int or `(sh, sw)`.
        padding: as Equinox's: a string, an int, or per-axis ints or pairs.
        dilation: must be 1 (Equinox's own layer dilates).
        groups: must be 1.
        use_bias: whether to add a bias.
        padding_mode: must be `"ZEROS"`.
        dtype: the parameters' dtype (Equinox's default when None).
        key: the initialisers' key.

    Raises:
        ValueError: for a dilation, groups or padding mode other than the above.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from elbox.models.equinox import Conv2d
        >>> conv = Conv2d(3, 8, 4, stride=2, padding=1, key=jax.random.key(0))
        >>> conv(jnp.ones((3, 16, 16))).shape
        (8, 8, 8)
    """

    weight: Float[Array, "out_channels in_channels kh kw"]
    bias: Float[Array, "out_channels 1 1"] | None
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    kernel_size: tuple[int, int] = eqx.field(static=True)
    stride: tuple[int, int] = eqx.field(static=True)
    padding: str | tuple[tuple[int, int], ...] = eqx.field(static=True)
    use_bias: bool = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = (1, 1),
        padding: str | int | Sequence[int] | Sequence[tuple[int, int]] = (0, 0),
        dilation: int | Sequence[int] = (1, 1),
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: PRNGKeyArray,
    ) -> None:
        reference = eqx.nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            use_bias,
            padding_mode,
            dtype,
            key=key,
        )
        _check_supported("Conv2d", reference)
        self.weight = reference.weight
        self.bias = reference.bias
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = (reference.kernel_size[0], reference.kernel_size[1])
        self.stride = (reference.stride[0], reference.stride[1])
        self.padding = reference.padding
        self.use_bias = use_bias

    def _pads(self, height: int, width: int) -> Padding:
        if isinstance(self.padding, str):
            (a, b), (c, d) = lax.padtype_to_pads(
                (height, width), self.kernel_size, self.stride, self.padding
            )
            return (a, b), (c, d)
        (a, b), (c, d) = self.padding
        return (a, b), (c, d)

    def batched(
        self, x: Float[Array, "batch height width channels"]
    ) -> Float[Array, "batch new_height new_width out_channels"]:
        """The same convolution of a batch of channels-last images, without the per-image
        transposes of `__call__` under `jax.vmap` (what elbox's reference models call).

        Args:
            x: `(batch, height, width, in_channels)`.
        """
        kernel = jnp.transpose(self.weight, (2, 3, 1, 0))
        y = conv(x, kernel, self.stride, self._pads(x.shape[1], x.shape[2]))
        return y if self.bias is None else y + self.bias.reshape(1, 1, 1, -1)

    def __call__(
        self, x: Float[Array, "channels height width"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, "out_channels new_height new_width"]:
        """Convolve one channels-first image, as `equinox.nn.Conv2d` does.

        Args:
            x: `(in_channels, height, width)`.
            key: ignored, as by Equinox's layers.
        """
        del key
        if x.ndim != 3:
            raise ValueError(f"Conv2d takes one (channels, height, width) image; got {x.shape}")
        return jnp.transpose(self.batched(jnp.transpose(x, (1, 2, 0))[None])[0], (2, 0, 1))


@final
class ConvTranspose2d(eqx.Module):
    """`equinox.nn.ConvTranspose2d`, computed as a sub-pixel convolution where strided.

    The same signature, parameters (`weight` of shape `(out, in, kh, kw)`, `bias` of shape
    `(out, 1, 1)`), initialisation and function as `equinox.nn.ConvTranspose2d`: a model's
    checkpoints load into either. XLA's CPU backend runs a strided transposed convolution
    (a convolution of the stride-dilated input) 5 to 20 times slower than other
    convolutions; this layer computes the same sums as one stride-1 convolution to
    `stride**2` times the channels followed by a depth-to-space rearrangement, and its
    gradients as stride-1 convolutions and a matrix product. To one output channel it
    keeps Equinox's computation, which is faster there.

    Args:
        in_channels: the input's channels.
        out_channels: the output's channels.
        kernel_size: an int or `(kh, kw)`.
        stride: an int or `(sh, sw)`.
        output_padding: extra rows and columns at the end of the output, each less than
            the stride.
        padding: as Equinox's: a string, an int, or per-axis ints or pairs.
        dilation: must be 1.
        groups: must be 1.
        use_bias: whether to add a bias.
        padding_mode: must be `"ZEROS"`.
        dtype: the parameters' dtype (Equinox's default when None).
        key: the initialisers' key.

    Raises:
        ValueError: for a dilation, groups or padding mode other than the above.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from elbox.models.equinox import ConvTranspose2d
        >>> up = ConvTranspose2d(8, 4, 4, stride=2, padding=1, key=jax.random.key(0))
        >>> up(jnp.ones((8, 8, 8))).shape
        (4, 16, 16)
    """

    weight: Float[Array, "out_channels in_channels kh kw"]
    bias: Float[Array, "out_channels 1 1"] | None
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    kernel_size: tuple[int, int] = eqx.field(static=True)
    stride: tuple[int, int] = eqx.field(static=True)
    dilated_padding: Padding = eqx.field(static=True)
    use_bias: bool = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = (1, 1),
        output_padding: int | Sequence[int] = (0, 0),
        padding: str | int | Sequence[int] | Sequence[tuple[int, int]] = (0, 0),
        dilation: int | Sequence[int] = (1, 1),
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: PRNGKeyArray,
    ) -> None:
        reference = eqx.nn.ConvTranspose2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            output_padding,
            padding,
            dilation,
            groups,
            use_bias,
            padding_mode,
            dtype,
            key=key,
        )
        _check_supported("ConvTranspose2d", reference)
        self.weight = reference.weight
        self.bias = reference.bias
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = (reference.kernel_size[0], reference.kernel_size[1])
        self.stride = (reference.stride[0], reference.stride[1])
        self.dilated_padding = _dilated_padding(
            self.kernel_size, self.stride, _pair(output_padding), reference.padding
        )
        self.use_bias = use_bias

    def __call__(
        self, x: Float[Array, "channels height width"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, "out_channels new_height new_width"]:
        """Apply the transposed convolution to one channels-first image, as
        `equinox.nn.ConvTranspose2d` does.

        Args:
            x: `(in_channels, height, width)`.
            key: ignored, as by Equinox's layers.
        """
        del key
        if x.ndim != 3:
            raise ValueError(
                f"ConvTranspose2d takes one (channels, height, width) image; got {x.shape}"
            )
        return jnp.transpose(self.batched(jnp.transpose(x, (1, 2, 0))[None])[0], (2, 0, 1))

    def batched(
        self, x: Float[Array, "batch height width channels"]
    ) -> Float[Array, "batch new_height new_width out_channels"]:
        """The same transposed convolution of a batch of channels-last images, without
        the per-image transposes of `__call__` under `jax.vmap` (what elbox's reference
        models call).

        Args:
            x: `(batch, height, width, in_channels)`.
        """
        # Equinox correlates the dilated input with `weight` as an OIHW kernel.
        kernel = jnp.transpose(self.weight, (2, 3, 1, 0))
        y = dilated_correlation(x, kernel, self.stride, self.dilated_padding)
        return y if self.bias is None else y + self.bias.reshape(1, 1, 1, -1)
