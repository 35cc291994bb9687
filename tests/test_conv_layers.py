"""elbox's convolution layers compute exactly what Flax's and Equinox's own layers compute.

Each layer is compared with the framework's layer of the same configuration in float64,
on tiny images: the same initial parameters from the same key, the same output, and the
same gradients with respect to the parameters and the input (of `sum(sin(output))`, so
that every output's gradient differs). The configurations cover the strided path (the
sub-pixel forms), thin stride-1 convolutions (matrix products and shifted sums), the
paths that keep XLA's own computation (one output channel, stride 1), string and
asymmetric paddings, and output padding.
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from elbox.models import equinox as eqx_models
from elbox.models import nnx as nnx_models

# kernel, stride, padding, output channels (and Equinox's output_padding)
EQX_TRANSPOSED = [
    (4, 2, 1, 5, 0),  # the reference models' layer
    (3, 2, "SAME", 4, 1),
    (3, 2, "VALID", 3, 0),
    (5, 3, ((1, 2), (2, 0)), 3, 2),
    (4, 2, 1, 1, 0),  # one output channel: XLA's own computation
    (3, 1, 1, 2, 0),  # stride 1: XLA's own computation
]
EQX_STRIDED = [
    (4, 2, 1, 5),
    (3, 2, "SAME", 4),
    (3, 2, "SAME_LOWER", 4),
    (5, 3, ((2, 1), (0, 2)), 2),
    (3, 1, 1, 2),  # thin (3*3*2 = 18 tap outputs): matrix products and shifted sums
    (3, 1, ((0, 2), (2, 1)), 3),  # thin, asymmetric padding
    (3, 1, 1, 4),  # 36 tap outputs: XLA's own computation
    (2, 1, ((2, 0), (0, 0)), 1),  # padding past the kernel: XLA's own computation
]
NNX_TRANSPOSED = [
    (4, 2, 2, 5, True),  # the reference models' layer (PyTorch's padding 1)
    (3, 2, "SAME", 4, False),
    (3, 2, "VALID", 3, True),
    (5, 3, ((1, 3), (2, 0)), 2, False),
    (4, 2, 1, 1, False),
]
NNX_STRIDED = [
    (4, 2, 1, 5),
    (3, 2, "SAME", 4),
    (5, 3, ((2, 1), (0, 2)), 3),
    (3, 1, 1, 2),  # thin: matrix products and shifted sums
    (2, 1, ((0, 1), (1, 0)), 4),  # thin, asymmetric padding
    (3, 1, "SAME", 4),  # 36 tap outputs: XLA's own computation
]


def _assert_same(got: Any, want: Any) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _loss(model: Any, x: jax.Array) -> jax.Array:
    return jnp.sum(jnp.sin(model(x)))


def _loss_of_pair(pair: tuple[Any, jax.Array]) -> jax.Array:
    return _loss(*pair)


# Compiled, as layers run in training: one compilation costs less than running the many
# small operations of the sub-pixel forms one by one (each compiles on its first call).
@eqx.filter_jit
def _equinox_output_and_grads(layer: Any, x: jax.Array) -> tuple[jax.Array, Any]:
    return layer(x), eqx.filter_grad(_loss_of_pair)((layer, x))


def _assert_equinox_twins(mine: Any, theirs: Any, x: jax.Array) -> None:
    _assert_same(mine.weight, theirs.weight)
    out_mine, (grad_mine, grad_x_mine) = _equinox_output_and_grads(mine, x)
    out_theirs, (grad_theirs, grad_x_theirs) = _equinox_output_and_grads(theirs, x)
    _assert_same(out_mine, out_theirs)
    _assert_same(grad_mine.weight, grad_theirs.weight)
    _assert_same(grad_mine.bias, grad_theirs.bias)
    _assert_same(grad_x_mine, grad_x_theirs)


@pytest.mark.parametrize(("kernel", "stride", "padding", "out", "output_padding"), EQX_TRANSPOSED)
def test_equinox_conv_transpose_is_equinox_s(
    kernel: int, stride: int, padding: Any, out: int, output_padding: int
) -> None:
    with jax.enable_x64(True):
        options: dict[str, Any] = {
            "stride": stride,
            "padding": padding,
            "output_padding": output_padding,
            "dtype": jnp.float64,
            "key": jax.random.key(0),
        }
        mine = eqx_models.ConvTranspose2d(3, out, kernel, **options)
        theirs = eqx.nn.ConvTranspose2d(3, out, kernel, **options)
        x = jax.random.normal(jax.random.key(1), (3, 7, 6), jnp.float64)
        _assert_equinox_twins(mine, theirs, x)


@pytest.mark.parametrize(("kernel", "stride", "padding", "out"), EQX_STRIDED)
def test_equinox_conv_is_equinox_s(kernel: int, stride: int, padding: Any, out: int) -> None:
    with jax.enable_x64(True):
        options: dict[str, Any] = {
            "stride": stride,
            "padding": padding,
            "dtype": jnp.float64,
            "key": jax.random.key(0),
        }
        mine = eqx_models.Conv2d(3, out, kernel, **options)
        theirs = eqx.nn.Conv2d(3, out, kernel, **options)
        x = jax.random.normal(jax.random.key(1), (3, 9, 8), jnp.float64)
        _assert_equinox_twins(mine, theirs, x)


def test_equinox_batched_is_the_vmapped_call() -> None:
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(1), (2, 6, 5, 3), jnp.float64)
        for layer in (
            eqx_models.Conv2d(3, 4, 4, 2, 1, dtype=jnp.float64, key=jax.random.key(0)),
            eqx_models.ConvTranspose2d(3, 4, 4, 2, 0, 1, dtype=jnp.float64, key=jax.random.key(0)),
        ):
            vmapped = jax.vmap(layer)(jnp.transpose(x, (0, 3, 1, 2)))
            _assert_same(layer.batched(x), jnp.transpose(vmapped, (0, 2, 3, 1)))


@nnx.jit
def _nnx_output_and_grads(layer: Any, x: jax.Array) -> tuple[jax.Array, Any]:
    return layer(x), nnx.grad(_loss, argnums=(0, 1))(layer, x)


def _assert_nnx_twins(mine: Any, theirs: Any, x: jax.Array) -> None:
    _assert_same(mine.kernel[...], theirs.kernel[...])
    out_mine, (grad_mine, grad_x_mine) = _nnx_output_and_grads(mine, x)
    out_theirs, (grad_theirs, grad_x_theirs) = _nnx_output_and_grads(theirs, x)
    _assert_same(out_mine, out_theirs)
    _assert_same(grad_mine["kernel"][...], grad_theirs["kernel"][...])
    _assert_same(grad_mine["bias"][...], grad_theirs["bias"][...])
    _assert_same(grad_x_mine, grad_x_theirs)


@pytest.mark.parametrize(("kernel", "stride", "padding", "out", "transpose_kernel"), NNX_TRANSPOSED)
def test_nnx_conv_transpose_is_flax_s(
    kernel: int, stride: int, padding: Any, out: int, transpose_kernel: bool
) -> None:
    with jax.enable_x64(True):
        options: dict[str, Any] = {
            "padding": padding,
            "transpose_kernel": transpose_kernel,
            "param_dtype": jnp.float64,
        }
        size, strides = (kernel, kernel), (stride, stride)
        mine = nnx_models.ConvTranspose(3, out, size, strides, rngs=nnx.Rngs(0), **options)
        theirs = nnx.ConvTranspose(3, out, size, strides, rngs=nnx.Rngs(0), **options)
        assert theirs.bias is not None
        assert mine.bias is not None
        theirs.bias[...] = mine.bias[...] = jnp.arange(out, dtype=jnp.float64)
        x = jax.random.normal(jax.random.key(1), (2, 7, 6, 3), jnp.float64)
        _assert_nnx_twins(mine, theirs, x)


@pytest.mark.parametrize(("kernel", "stride", "padding", "out"), NNX_STRIDED)
def test_nnx_conv_is_flax_s(kernel: int, stride: int, padding: Any, out: int) -> None:
    with jax.enable_x64(True):
        size, strides = (kernel, kernel), (stride, stride)
        mine = nnx_models.Conv(
            3, out, size, strides, padding=padding, param_dtype=jnp.float64, rngs=nnx.Rngs(0)
        )
        theirs = nnx.Conv(
            3, out, size, strides, padding=padding, param_dtype=jnp.float64, rngs=nnx.Rngs(0)
        )
        x = jax.random.normal(jax.random.key(1), (2, 9, 8, 3), jnp.float64)
        _assert_nnx_twins(mine, theirs, x)


def test_nnx_layers_take_any_batch_axes_as_flax_s_do() -> None:
    x = jax.random.normal(jax.random.key(1), (2, 3, 6, 6, 4))
    for mine, theirs in (
        (
            nnx_models.Conv(4, 5, (4, 4), (2, 2), padding=1, rngs=nnx.Rngs(0)),
            nnx.Conv(4, 5, (4, 4), (2, 2), padding=1, rngs=nnx.Rngs(0)),
        ),
        (
            nnx_models.ConvTranspose(4, 5, (4, 4), (2, 2), padding=2, rngs=nnx.Rngs(0)),
            nnx.ConvTranspose(4, 5, (4, 4), (2, 2), padding=2, rngs=nnx.Rngs(0)),
        ),
    ):
        for inputs in (x, x[0, 0]):  # two batch axes; one image without any
            got, want = np.asarray(mine(inputs)), np.asarray(theirs(inputs))
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: eqx_models.Conv2d(2, 2, 3, dilation=2, key=jax.random.key(0)),
            r"Conv2d supports dilation 1.*got dilation=\(2, 2\).*use equinox.nn.Conv2d",
        ),
        (
            lambda: eqx_models.ConvTranspose2d(2, 4, 3, groups=2, key=jax.random.key(0)),
            r"got groups=2: use equinox.nn.ConvTranspose2d",
        ),
        (
            lambda: nnx_models.ConvTranspose(2, 2, (3, 3), kernel_dilation=2, rngs=nnx.Rngs(0)),
            r"got kernel_dilation=2: use flax.nnx.ConvTranspose",
        ),
        (
            lambda: nnx_models.Conv(2, 2, (3, 3), padding="CIRCULAR", rngs=nnx.Rngs(0)),
            r"got padding='CIRCULAR': use flax.nnx.Conv",
        ),
        (
            lambda: nnx_models.Conv(2, 2, (3,), rngs=nnx.Rngs(0)),
            r"got kernel_size=\(3,\) \(2-D only\)",
        ),
    ],
)
def test_options_only_the_frameworks_layers_compute_are_refused(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
