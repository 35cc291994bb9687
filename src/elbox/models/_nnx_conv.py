"""Flax NNX's `Conv` and `ConvTranspose`, computed in the forms XLA's CPU backend runs fast
(see `_conv_ops`): the same parameters, initialisation and function."""

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, final

import jax.numpy as jnp
from flax import nnx
from flax.nnx.nn import dtypes
from flax.nnx.nn.linear import default_bias_init, default_kernel_init
from jax import lax
from jaxtyping import Array, Float

from ._conv_ops import Padding, conv, dilated_correlation

_PaddingLike = str | int | Sequence[int | tuple[int, int]]
"""Flax's padding: `"SAME"`, `"VALID"`, one int, or one int or `(before, after)` pair per
axis."""

_SPECIAL_PADDINGS = ("CIRCULAR", "REFLECT", "CAUSAL")


def _pair(value: int | Sequence[int] | None) -> tuple[int, int]:
    if value is None:
        return (1, 1)
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (first, second)


def _explicit_pads(padding: _PaddingLike) -> str | Padding:
    """Flax's padding as lax takes it: a string, or one pair per axis."""
    if isinstance(padding, str):
        return padding
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    pairs = [(p, p) if isinstance(p, int) else (p[0], p[1]) for p in padding]
    if len(pairs) != 2:
        raise ValueError(f"padding must give 2 axes; got {padding!r}")
    return (pairs[0], pairs[1])


def _check_supported(layer: str, kernel_size: tuple[int, ...], **options: Any) -> None:
    """Refuse what only Flax's own layer computes, in one line. `options` are the values
    that must be None (a dilation of 1 given as None)."""
    unsupported = [f"{name}={value!r}" for name, value in options.items() if value is not None]
    if len(kernel_size) != 2:
        unsupported.insert(0, f"kernel_size={kernel_size} (2-D only)")
    if unsupported:
        raise ValueError(
            f"elbox's {layer} supports 2-D convolutions without dilation, groups, mask, "
            f"precision or special padding; got {', '.join(unsupported)}: use "
            f"flax.nnx.{layer} for those"
        )


def _special_padding(padding: _PaddingLike) -> str | None:
    """A padding mode that Flax computes by padding the input itself, or None."""
    if isinstance(padding, str) and padding.upper() in _SPECIAL_PADDINGS:
        return padding
    return None


def _flat_batch(x: Array) -> tuple[Array, tuple[int, ...]]:
    """`x` with its batch axes (all but the last three) flattened into one, and their
    shape; a single image gets a batch axis of 1."""
    batch_shape = x.shape[:-3]
    return x.reshape(-1, *x.shape[-3:]), batch_shape


@final
class Conv(nnx.Module):
    """`flax.nnx.Conv` (2-D), computed in the forms XLA's CPU backend runs fast.

    The same signature, parameters (`kernel` of shape `(kh, kw, in, out)`, `bias`),
    initialisation and function as `flax.nnx.Conv`: a model's state and checkpoints fit
    either. Only how it is computed differs. A strided convolution's input gradient is a
    transposed convolution, which XLA's CPU backend runs slowly, and is computed here as
    the exact sub-pixel convolution; a thin stride-1 convolution (at most 32 kernel taps
    times output features, such as a 3x3 output layer to an image's channels) is
    computed as matrix products and shifted sums. Use it for strided convolutions that
    are not a model's first layer, and for thin output layers; other stride-1
    convolutions gain nothing.

    Args:
        in_features: the input's channels.
        out_features: the output's channels.
        kernel_size: an int or `(kh, kw)`.
        strides: an int or `(sh, sw)`.
        padding: `"SAME"`, `"VALID"`, an int, or per-axis ints or pairs.
        input_dilation: must be 1.
        kernel_dilation: must be 1.
        feature_group_count: must be 1.
        use_bias: whether to add a bias.
        mask: must be None.
        dtype: the computation's dtype (by `promote_dtype` when None).
        param_dtype: the parameters' dtype.
        precision: must be None.
        kernel_init: the kernel's initialiser.
        bias_init: the bias's initialiser.
        promote_dtype: as Flax's.
        preferred_element_type: must be None.
        rngs: the initialisers' random streams.
        kernel_metadata: metadata of the kernel's `nnx.Param`.
        bias_metadata: metadata of the bias's `nnx.Param`.

    Raises:
        ValueError: for an option that must keep its default, or a kernel that is not 2-D.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from elbox.models.nnx import Conv
        >>> conv = Conv(3, 8, (4, 4), (2, 2), padding=1, rngs=nnx.Rngs(0))
        >>> conv(jnp.ones((5, 16, 16, 3))).shape
        (5, 8, 8, 8)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] | None = 1,
        *,
        padding: str | int | Sequence[int | tuple[int, int]] = "SAME",
        input_dilation: int | Sequence[int] | None = 1,
        kernel_dilation: int | Sequence[int] | None = 1,
        feature_group_count: int = 1,
        use_bias: bool = True,
        mask: Array | None = None,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        precision: Any = None,
        kernel_init: Any = default_kernel_init,
        bias_init: Any = default_bias_init,
        promote_dtype: Any = dtypes.promote_dtype,
        preferred_element_type: Any = None,
        rngs: nnx.Rngs,
        kernel_metadata: Mapping[str, Any] = MappingProxyType({}),
        bias_metadata: Mapping[str, Any] = MappingProxyType({}),
    ) -> None:
        sizes = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
        _check_supported(
            "Conv",
            sizes,
            input_dilation=None if _pair(input_dilation) == (1, 1) else input_dilation,
            kernel_dilation=None if _pair(kernel_dilation) == (1, 1) else kernel_dilation,
            feature_group_count=None if feature_group_count == 1 else feature_group_count,
            mask=None if mask is None else "an array",
            precision=precision,
            preferred_element_type=preferred_element_type,
            padding=_special_padding(padding),
        )
        reference = nnx.Conv(
            in_features,
            out_features,
            sizes,
            strides,
            padding=padding,
            use_bias=use_bias,
            dtype=dtype,
            param_dtype=param_dtype,
            kernel_init=kernel_init,
            bias_init=bias_init,
            promote_dtype=promote_dtype,
            rngs=rngs,
            kernel_metadata=kernel_metadata,
            bias_metadata=bias_metadata,
        )
        self.kernel = reference.kernel
        self.bias = reference.bias
        self.in_features = in_features
        self.out_features = out_features
        self.kernel_size = (sizes[0], sizes[1])
        self.strides = _pair(strides)
        self.padding = _explicit_pads(padding)
        self.use_bias = use_bias
        self.dtype = dtype
        self.promote_dtype = promote_dtype

    def __call__(
        self, inputs: Float[Array, "*batch height width channels"]
    ) -> Float[Array, "*batch new_height new_width out_channels"]:
        """Convolve channels-last images, as `flax.nnx.Conv` does.

        Args:
            inputs: `(*batch, height, width, in_features)`; any number of batch axes.
        """
        x, batch_shape = _flat_batch(inputs)
        bias = self.bias[...] if self.bias is not None else None
        x, kernel, bias = self.promote_dtype((x, self.kernel[...], bias), dtype=self.dtype)
        pads = self.padding
        if isinstance(pads, str):
            (a, b), (c, d) = lax.padtype_to_pads(x.shape[1:3], self.kernel_size, self.strides, pads)
            pads = ((a, b), (c, d))
        y = conv(x, kernel, self.strides, pads)
        if bias is not None:
            y = y + bias.reshape(1, 1, 1, -1)
        return y.reshape(*batch_shape, *y.shape[1:])


@final
class ConvTranspose(nnx.Module):
    """`flax.nnx.ConvTranspose` (2-D), computed as a sub-pixel convolution where strided.

    The same signature, parameters (`kernel` of shape `(kh, kw, in, out)`, or
    `(kh, kw, out, in)` with `transpose_kernel=True`; `bias`), initialisation and function
    as `flax.nnx.ConvTranspose`: a model's state and checkpoints fit either. XLA's CPU
    backend runs a strided transposed convolution (a convolution of the stride-dilated
    input) 5 to 20 times slower than other convolutions; this layer computes the same sums
    as one stride-1 convolution to `strides**2` times the channels followed by a
    depth-to-space rearrangement, and its gradients as stride-1 convolutions and a matrix
    product. To one output feature it keeps Flax's computation, which is faster
    there.

    Args:
        in_features: the input's channels.
        out_features: the output's channels.
        kernel_size: an int or `(kh, kw)`.
        strides: an int or `(sh, sw)`.
        padding: `"SAME"`, `"VALID"`, an int, or per-axis ints or pairs, as
            `lax.conv_transpose` takes it (the padding of the dilated input).
        kernel_dilation: must be 1.
        use_bias: whether to add a bias.
        mask: must be None.
        dtype: the computation's dtype (by `promote_dtype` when None).
        param_dtype: the parameters' dtype.
        precision: must be None.
        kernel_init: the kernel's initialiser.
        bias_init: the bias's initialiser.
        transpose_kernel: PyTorch's convention: the kernel is that of the strided
            convolution this layer is the gradient of.
        promote_dtype: as Flax's.
        preferred_element_type: must be None.
        rngs: the initialisers' random streams.
        kernel_metadata: metadata of the kernel's `nnx.Param`.
        bias_metadata: metadata of the bias's `nnx.Param`.

    Raises:
        ValueError: for an option that must keep its default, or a kernel that is not 2-D.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from elbox.models.nnx import ConvTranspose
        >>> up = ConvTranspose(
        ...     8, 4, (4, 4), (2, 2), padding=2, transpose_kernel=True,
        ...     rngs=nnx.Rngs(0),
        ... )
        >>> up(jnp.ones((5, 8, 8, 8))).shape
        (5, 16, 16, 4)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] | None = None,
        *,
        padding: str | int | Sequence[int | tuple[int, int]] = "SAME",
        kernel_dilation: int | Sequence[int] | None = None,
        use_bias: bool = True,
        mask: Array | None = None,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        precision: Any = None,
        kernel_init: Any = default_kernel_init,
        bias_init: Any = default_bias_init,
        transpose_kernel: bool = False,
        promote_dtype: Any = dtypes.promote_dtype,
        preferred_element_type: Any = None,
        rngs: nnx.Rngs,
        kernel_metadata: Mapping[str, Any] = MappingProxyType({}),
        bias_metadata: Mapping[str, Any] = MappingProxyType({}),
    ) -> None:
        sizes = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
        _check_supported(
            "ConvTranspose",
            sizes,
            kernel_dilation=None if _pair(kernel_dilation) == (1, 1) else kernel_dilation,
            mask=None if mask is None else "an array",
            precision=precision,
            preferred_element_type=preferred_element_type,
            padding=_special_padding(padding),
        )
        reference = nnx.ConvTranspose(
            in_features,
            out_features,
            sizes,
            strides,
            padding=padding,
            use_bias=use_bias,
            dtype=dtype,
            param_dtype=param_dtype,
            kernel_init=kernel_init,
            bias_init=bias_init,
            transpose_kernel=transpose_kernel,
            promote_dtype=promote_dtype,
            rngs=rngs,
            kernel_metadata=kernel_metadata,
            bias_metadata=bias_metadata,
        )
        self.kernel = reference.kernel
        self.bias = reference.bias
        self.in_features = in_features
        self.out_features = out_features
        self.kernel_size = (sizes[0], sizes[1])
        self.strides = _pair(strides)
        self.padding = _explicit_pads(padding)
        self.use_bias = use_bias
        self.transpose_kernel = transpose_kernel
        self.dtype = dtype
        self.promote_dtype = promote_dtype

    def __call__(
        self, inputs: Float[Array, "*batch height width channels"]
    ) -> Float[Array, "*batch new_height new_width out_channels"]:
        """Apply the transposed convolution to channels-last images, as
        `flax.nnx.ConvTranspose` does.

        Args:
            inputs: `(*batch, height, width, in_features)`; any number of batch axes.
        """
        x, batch_shape = _flat_batch(inputs)
        bias = self.bias[...] if self.bias is not None else None
        x, kernel, bias = self.promote_dtype((x, self.kernel[...], bias), dtype=self.dtype)
        if self.transpose_kernel:
            # lax.conv_transpose's convention: the strided convolution's kernel, rotated
            # by 180 degrees, with its input and output channels swapped.
            kernel = jnp.swapaxes(kernel[::-1, ::-1], 2, 3)
        y = dilated_correlation(x, kernel, self.strides, self.padding)
        if bias is not None:
            y = y + bias.reshape(1, 1, 1, -1)
        return y.reshape(*batch_shape, *y.shape[1:])
