"""Strided and transposed 2-D convolutions, re-expressed exactly so that XLA's CPU backend
runs them fast.

XLA's CPU backend hands stride-1 convolutions to its fast library (YNNPACK) but runs any
convolution with `lhs_dilation` (a transposed convolution, and the input gradient of every
strided convolution) through a generic loop nest that is 5 to 20 times slower, and its
kernel gradients of wide, shallow convolutions are slow too. Here:

- a transposed convolution of stride `s` is the sub-pixel convolution it equals: one
  stride-1 convolution to `s * s` times the output channels (one kernel per output phase,
  built from the taps of the original kernel that reach that phase), then depth-to-space
  and a crop. Nothing is approximated: every output is the same sum of the same products.
- that stride-1 convolution gets its kernel gradient as one matrix product over the batch
  and the positions (im2col), where XLA's convolution kernels are slowest;
- a strided convolution keeps XLA's forward and kernel gradient, and takes its input
  gradient (itself a transposed convolution) from the sub-pixel form;
- a thin stride-1 convolution (few taps times output channels: a 3x3 output layer to an
  image's channels) is one matrix product of the input with every tap's weights, then a
  sum of shifted slices; its gradients are matrix products with the output gradient's
  windows. XLA's convolution runs that shape slowly, and its kernel gradient first
  transposes the whole input.

All arrays are channels-last: images `(batch, height, width, channels)`, kernels
`(kernel_height, kernel_width, in_channels, out_channels)` (HWIO).
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

Padding = tuple[tuple[int, int], tuple[int, int]]
"""Explicit zero padding `((top, bottom), (left, right))`."""

SUBPIXEL_MIN_CHANNELS = 2
"""Transposed convolutions to fewer output channels (one) stay XLA's own, which is faster
there: the sub-pixel convolution would have only `stride**2` output channels."""

GEMM_MIN_CHANNELS = 64
"""Stride-1 convolutions to at least this many output channels take their kernel gradient
as a matrix product; thinner ones keep XLA's, which is faster when the product is small."""

THIN_MAX_TAP_OUTPUTS = 32
"""Stride-1 convolutions whose taps times output channels are at most this (a 3x3 output
layer to 1 to 3 channels) are computed as matrix products over the input's positions and
shifted sums; XLA's convolutions, and the transposes of the input that their kernel
gradient needs, are slowest there."""

_NHWC = ("NHWC", "HWIO", "NHWC")


def _valid_conv(
    x: Float[Array, "batch height width cin"], kernel: Float[Array, "kh kw cin cout"]
) -> Float[Array, "batch oh ow cout"]:
    return lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=_NHWC)


def _patches(x: Float[Array, "batch height width cin"], kh: int, kw: int) -> Array:
    """Every `kh x kw` window of `x`, its taps stacked before the channels: shape
    `(batch, oh, ow, kh * kw * cin)`, ordered as a reshaped HWIO kernel's rows."""
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    windows = [x[:, i : i + oh, j : j + ow] for i in range(kh) for j in range(kw)]
    return jnp.concatenate(windows, axis=-1)


@jax.custom_vjp
def valid_conv(
    x: Float[Array, "batch height width cin"], kernel: Float[Array, "kh kw cin cout"]
) -> Float[Array, "batch oh ow cout"]:
    """A stride-1 convolution without padding (a correlation, as XLA's), whose kernel
    gradient, for `GEMM_MIN_CHANNELS` output channels or more, is one matrix product of
    the input's windows with the output gradient."""
    return _valid_conv(x, kernel)


def _valid_conv_forward(x: Array, kernel: Array) -> tuple[Array, tuple[Array, Array]]:
    return _valid_conv(x, kernel), (x, kernel)


def _valid_conv_backward(residuals: tuple[Array, Array], grad: Array) -> tuple[Array, Array]:
    x, kernel = residuals
    kh, kw, cin, cout = kernel.shape
    # The input gradient is the full correlation with the rotated, transposed kernel: a
    # stride-1 convolution again, which XLA runs fast.
    padded = jnp.pad(grad, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
    grad_x = _valid_conv(padded, jnp.transpose(kernel[::-1, ::-1], (0, 1, 3, 2)))
    if cout < GEMM_MIN_CHANNELS:
        _, kernel_vjp = jax.vjp(lambda k: _valid_conv(x, k), kernel)
        (grad_kernel,) = kernel_vjp(grad)
        return grad_x, grad_kernel
    windows = _patches(x, kh, kw).reshape(-1, kh * kw * cin)
    grad_kernel = jnp.dot(windows.T, grad.reshape(-1, cout)).reshape(kernel.shape)
    return grad_x, grad_kernel


valid_conv.defvjp(_valid_conv_forward, _valid_conv_backward)


def _phase_taps(size: int, stride: int) -> int:
    """The taps of a kernel of `size` that reach one output phase of a stride: ceil."""
    return -(-size // stride)


def conv_transpose(
    x: Float[Array, "batch height width cin"],
    kernel: Float[Array, "kh kw cin cout"],
    stride: tuple[int, int],
    padding: tuple[int, int],
    output_size: tuple[int, int],
) -> Float[Array, "batch oh ow cout"]:
    """The transposed convolution `out[s*i - p + k] += x[i] * kernel[k]` (PyTorch's
    `ConvTranspose2d` with its weight as `(kh, kw, in, out)`), as a sub-pixel convolution.

    Args:
        x: the input.
        kernel: the kernel in scatter orientation: tap `k` adds `x[i] @ kernel[k]` at
            output position `s * i - p + k`.
        stride: `(s_h, s_w)`.
        padding: `(p_h, p_w)`, the rows and columns cropped from the front of the full
            output (at least 0).
        output_size: `(oh, ow)`; positions past the full output are zeros.
    """
    batch, height, width, cin = x.shape
    kh, kw, _, cout = kernel.shape
    (sh, sw), (ph, pw), (oh, ow) = stride, padding, output_size
    jh, jw = _phase_taps(kh, sh), _phase_taps(kw, sw)
    # Output position o sits at phase r = (o + p) % s of row q = (o + p) // s; row q of
    # phase r sums x[q - j] * kernel[r + s*j] over the phase's taps j.
    qh, qw = -(-(oh + ph) // sh), -(-(ow + pw) // sw)
    x = x[:, : min(height, qh), : min(width, qw)]
    x = jnp.pad(
        x,
        ((0, 0), (jh - 1, qh - x.shape[1]), (jw - 1, qw - x.shape[2]), (0, 0)),
    )
    # Taps padded to a whole number per phase, then each phase's taps reversed (the
    # convolution correlates), and the phases moved into the output channels.
    full = jnp.pad(kernel, ((0, jh * sh - kh), (0, jw * sw - kw), (0, 0), (0, 0)))
    phased = full.reshape(jh, sh, jw, sw, cin, cout)[::-1, :, ::-1]
    phased = jnp.transpose(phased, (0, 2, 4, 1, 3, 5)).reshape(jh, jw, cin, sh * sw * cout)
    y = valid_conv(x, phased)
    y = y.reshape(batch, qh, qw, sh, sw, cout)
    y = jnp.transpose(y, (0, 1, 3, 2, 4, 5)).reshape(batch, qh * sh, qw * sw, cout)
    return y[:, ph : ph + oh, pw : pw + ow]


def _native_conv(x: Array, kernel: Array, stride: tuple[int, int], padding: Padding) -> Array:
    return lax.conv_general_dilated(x, kernel, stride, padding, dimension_numbers=_NHWC)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _strided_conv(x: Array, kernel: Array, stride: tuple[int, int], padding: Padding) -> Array:
    return _native_conv(x, kernel, stride, padding)


def _strided_conv_forward(
    x: Array, kernel: Array, stride: tuple[int, int], padding: Padding
) -> tuple[Array, tuple[Array, Array]]:
    return _native_conv(x, kernel, stride, padding), (x, kernel)


def _strided_conv_backward(
    stride: tuple[int, int], padding: Padding, residuals: tuple[Array, Array], grad: Array
) -> tuple[Array, Array]:
    x, kernel = residuals
    # The input gradient scatters each output's gradient back through the kernel: the
    # transposed convolution with the same kernel, its channels swapped.
    grad_x = conv_transpose(
        grad,
        jnp.transpose(kernel, (0, 1, 3, 2)),
        stride,
        (padding[0][0], padding[1][0]),
        (x.shape[1], x.shape[2]),
    )
    _, kernel_vjp = jax.vjp(lambda k: _native_conv(x, k, stride, padding), kernel)
    (grad_kernel,) = kernel_vjp(grad)
    return grad_x, grad_kernel


_strided_conv.defvjp(_strided_conv_forward, _strided_conv_backward)


def _thin_conv_forward_value(x: Array, kernel: Array, padding: Padding) -> Array:
    kh, kw, cin, cout = kernel.shape
    batch, height, width, _ = x.shape
    (top, bottom), (left, right) = padding
    # Every tap's contribution at every input position, one matrix product:
    # taps[n, h, w, i, j, o] = x[n, h, w] @ kernel[i, j, :, o].
    taps = jnp.dot(x.reshape(-1, cin), kernel.transpose(2, 0, 1, 3).reshape(cin, -1))
    taps = taps.reshape(batch, height, width, kh, kw, cout)
    taps = jnp.pad(taps, ((0, 0), (top, bottom), (left, right), (0, 0), (0, 0), (0, 0)))
    out_h, out_w = height + top + bottom - kh + 1, width + left + right - kw + 1
    # out[n, p] = sum over taps t of taps[n, p + t, t]: shifted slices, summed.
    return sum(
        (taps[:, i : i + out_h, j : j + out_w, i, j] for i in range(kh) for j in range(kw)),
        start=jnp.zeros((batch, out_h, out_w, cout), x.dtype),
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _thin_conv(x: Array, kernel: Array, padding: Padding) -> Array:
    return _thin_conv_forward_value(x, kernel, padding)


def _thin_conv_forward(
    x: Array, kernel: Array, padding: Padding
) -> tuple[Array, tuple[Array, Array]]:
    return _thin_conv_forward_value(x, kernel, padding), (x, kernel)


def _thin_conv_backward(
    padding: Padding, residuals: tuple[Array, Array], grad: Array
) -> tuple[Array, Array]:
    x, kernel = residuals
    kh, kw, cin, cout = kernel.shape
    height, width = x.shape[1], x.shape[2]
    (top, bottom), (left, right) = padding
    # Input position h meets output h + top - i through tap i: the output gradient's
    # windows, one column per tap and output channel, read from its padded copy.
    padded = jnp.pad(
        grad, ((0, 0), (kh - 1 - top, kh - 1 - bottom), (kw - 1 - left, kw - 1 - right), (0, 0))
    )
    windows = jnp.stack(
        [
            padded[:, kh - 1 - i : kh - 1 - i + height, kw - 1 - j : kw - 1 - j + width]
            for i in range(kh)
            for j in range(kw)
        ],
        axis=3,
    ).reshape(-1, kh * kw * cout)
    flat_kernel = kernel.reshape(kh * kw, cin, cout).transpose(0, 2, 1).reshape(-1, cin)
    grad_x = jnp.dot(windows, flat_kernel).reshape(x.shape)
    grad_kernel = jnp.dot(x.reshape(-1, cin).T, windows)
    grad_kernel = grad_kernel.reshape(cin, kh, kw, cout).transpose(1, 2, 0, 3)
    return grad_x, grad_kernel


_thin_conv.defvjp(_thin_conv_forward, _thin_conv_backward)


def _conv(
    x: Float[Array, "batch height width cin"],
    kernel: Float[Array, "kh kw cin cout"],
    stride: tuple[int, int],
    padding: Padding,
) -> Float[Array, "batch oh ow cout"]:
    """XLA's convolution (a correlation) with zero padding; when strided, its input
    gradient is computed as a sub-pixel transposed convolution; when of stride 1 and thin
    (`THIN_MAX_TAP_OUTPUTS`), as matrix products and shifted sums."""
    kh, kw, _, cout = kernel.shape
    (top, bottom), (left, right) = padding
    if stride == (1, 1):
        # The thin form needs each padding below the kernel's size (its gradient reads
        # the output gradient's windows from a copy padded by `size - 1 - padding`).
        pads_fit = all(0 <= p < kh for p in (top, bottom)) and all(
            0 <= p < kw for p in (left, right)
        )
        if kh * kw * cout <= THIN_MAX_TAP_OUTPUTS and pads_fit:
            return _thin_conv(x, kernel, padding)
        return _native_conv(x, kernel, stride, padding)
    if x.shape[-1] < SUBPIXEL_MIN_CHANNELS or top < 0 or left < 0:
        return _native_conv(x, kernel, stride, padding)
    return _strided_conv(x, kernel, stride, padding)


def _transpose_pads(kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """`lax.conv_transpose`'s padding of the dilated input for "SAME" and "VALID"."""
    if padding == "SAME":
        total = kernel + stride - 2
        low = kernel - 1 if stride > kernel - 1 else -(-total // 2)
    elif padding == "VALID":
        total = kernel + stride - 2 + max(kernel - stride, 0)
        low = kernel - 1
    else:
        raise ValueError(f"padding must be 'SAME', 'VALID' or explicit pairs; got {padding!r}")
    return low, total - low


def _dilated_correlation(
    x: Float[Array, "batch height width cin"],
    kernel: Float[Array, "kh kw cin cout"],
    stride: tuple[int, int],
    padding: str | Padding,
) -> Float[Array, "batch oh ow cout"]:
    """`lax.conv_transpose(x, kernel, stride, padding)` (NHWC, HWIO, no kernel
    transpose): the correlation of the stride-dilated, padded input with `kernel`, which is
    what Flax's and Equinox's transposed convolutions compute. Strided ones go through the
    sub-pixel form, unless they have fewer than `SUBPIXEL_MIN_CHANNELS` output channels."""
    kh, kw, _, cout = kernel.shape
    if isinstance(padding, str):
        padding = (_transpose_pads(kh, stride[0], padding), _transpose_pads(kw, stride[1], padding))
    (low_h, high_h), (low_w, high_w) = padding
    if stride == (1, 1) or cout < SUBPIXEL_MIN_CHANNELS or low_h > kh - 1 or low_w > kw - 1:
        return lax.conv_general_dilated(
            x, kernel, (1, 1), padding, lhs_dilation=stride, dimension_numbers=_NHWC
        )
    height, width = x.shape[1], x.shape[2]
    # out[o] = sum_t dilated[o + t - low] * kernel[t]: tap k = kernel_size - 1 - t of the
    # reversed kernel scatters x[i] to o = s*i - (kernel_size - 1 - low) + k.
    size = (
        (height - 1) * stride[0] + 1 + low_h + high_h - kh + 1,
        (width - 1) * stride[1] + 1 + low_w + high_w - kw + 1,
    )
    return conv_transpose(x, kernel[::-1, ::-1], stride, (kh - 1 - low_h, kw - 1 - low_w), size)


# The layers' entry points, compiled as a whole: called outside a `jax.jit` (in tests, or
# eagerly), one compilation per shape costs less than compiling each of the sub-pixel
# forms' small operations one by one; inside a `jax.jit` they are inlined.
_conv_compiled = jax.jit(_conv, static_argnames=("stride", "padding"))
_dilated_correlation_compiled = jax.jit(_dilated_correlation, static_argnames=("stride", "padding"))


def conv(
    x: Float[Array, "batch height width cin"],
    kernel: Float[Array, "kh kw cin cout"],
    stride: tuple[int, int],
    padding: Padding,
) -> Float[Array, "batch oh ow cout"]:
    """XLA's convolution (a correlation) with zero padding, computed fast (see `_conv`)."""
    out: Array = _conv_compiled(x, kernel, stride, padding)
    return out


def dilated_correlation(
    x: Float[Array, "batch height width cin"],
    kernel: Float[Array, "kh kw cin cout"],
    stride: tuple[int, int],
    padding: str | Padding,
) -> Float[Array, "batch oh ow cout"]:
    """`lax.conv_transpose(x, kernel, stride, padding)`, computed fast (see
    `_dilated_correlation`)."""
    out: Array = _dilated_correlation_compiled(x, kernel, stride, padding)
    return out
