"""The reference models: the NNX and Equinox twins agree in parameters, shapes and values."""

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from elbox import VAETrainer, VAETrainingConfig
from elbox.data import digits
from elbox.models import equinox as eqx_models
from elbox.models import nnx as nnx_models

from .helpers import FRAMEWORKS, Framework

# One configuration throughout: the first draw of weights of each new shape compiles, slowly.
SMALL_CONV: dict[str, Any] = {"channels": (8, 16), "hidden": 64, "latent": 16}


def _num_params(model: Any) -> int:
    if isinstance(model, nnx.Module):
        leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
    else:
        leaves = jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))
    return sum(int(leaf.size) for leaf in leaves)


def _mlp(framework: Framework, seed: int = 0, **kwargs: Any) -> Any:
    if framework == "nnx":
        return nnx_models.MLPVAE(64, hidden=32, latent=4, rngs=nnx.Rngs(seed), **kwargs)
    return eqx_models.MLPVAE(64, hidden=32, latent=4, key=jax.random.key(seed), **kwargs)


def _conv(
    framework: Framework, image_shape: tuple[int, int, int], seed: int = 0, **kwargs: Any
) -> Any:
    options = SMALL_CONV | kwargs
    if framework == "nnx":
        return nnx_models.ConvVAE(image_shape, rngs=nnx.Rngs(seed), **options)
    return eqx_models.ConvVAE(image_shape, key=jax.random.key(seed), **options)


def _forward(model: Any, x: jax.Array, seed: int = 1) -> tuple[jax.Array, jax.Array, jax.Array]:
    if isinstance(model, nnx.Module):
        return model(x)  # type: ignore[no-any-return]
    return model(x, key=jax.random.key(seed))  # type: ignore[no-any-return]


# -- parameter counts ---------------------------------------------------------------------


def test_mlp_parameter_count_by_hand() -> None:
    # features 64, hidden 32, latent 4; each dense layer has in * out weights + out biases:
    # encoder 64*32 + 32 = 2080, mean and logvar 32*4 + 4 = 132 each,
    # decoder_hidden 4*32 + 32 = 160, decoder_out 32*64 + 64 = 2112: 4616 in all.
    assert _num_params(_mlp("nnx")) == _num_params(_mlp("equinox")) == 4616


def test_conv_parameter_count_by_hand() -> None:
    # image (8, 8, 1), channels (8, 16), hidden 64, latent 16. A k x k convolution has
    # k*k*in*out weights + out biases; the bottleneck is 8/4 x 8/4 x 16 = 64 values.
    # encoder conv 1 -> 8:         4*4*1*8 + 8    =  136
    # encoder conv 8 -> 16:        4*4*8*16 + 16  = 2064
    # encoder dense 64 -> 64:      64*64 + 64     = 4160
    # mean, logvar 64 -> 16:       2*(64*16 + 16) = 2080
    # decoder_hidden 16 -> 64:     16*64 + 64     = 1088
    # decoder_expand 64 -> 64:     64*64 + 64     = 4160
    # transposed conv 16 -> 8:     4*4*16*8 + 8   = 2056
    # transposed conv 8 -> 8:      4*4*8*8 + 8    = 1032
    # output conv 3x3, 8 -> 1:     3*3*8*1 + 1    =   73
    # total: 16849
    expected = 136 + 2064 + 4160 + 2080 + 1088 + 4160 + 2056 + 1032 + 73
    assert expected == 16849
    assert _num_params(_conv("nnx", (8, 8, 1))) == expected
    assert _num_params(_conv("equinox", (8, 8, 1))) == expected


def _abstract_num_params(model: Any) -> int:
    """The parameter count of a model made under `nnx.eval_shape`/`eqx.filter_eval_shape`."""
    if isinstance(model, nnx.Module):
        leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
    else:
        leaves = [
            leaf
            for leaf in jax.tree.leaves(model)
            if isinstance(leaf, jax.ShapeDtypeStruct) and jnp.issubdtype(leaf.dtype, jnp.inexact)
        ]
    return sum(math.prod(leaf.shape) for leaf in leaves)


@pytest.mark.parametrize(
    ("image_shape", "options"),
    [
        ((8, 8, 1), {"channels": (32, 64), "hidden": 256, "latent": 16}),
        ((32, 32, 1), {"channels": (32, 64), "hidden": 256, "latent": 16}),
        ((32, 32, 1), {"channels": (8, 16, 16), "hidden": 32, "latent": 10}),
        ((16, 8, 3), {"channels": (5,), "hidden": 7, "latent": 3}),
    ],
)
def test_conv_twins_have_the_same_parameter_count(
    image_shape: tuple[int, int, int], options: dict[str, Any]
) -> None:
    # Shapes only: drawing the initial weights of every configuration would only be slow.
    nnx_model = nnx.eval_shape(lambda: nnx_models.ConvVAE(image_shape, rngs=nnx.Rngs(0), **options))
    eqx_model = eqx.filter_eval_shape(
        eqx_models.ConvVAE, image_shape, key=jax.random.key(0), **options
    )
    nnx_sizes = [math.prod(leaf.shape) for leaf in jax.tree.leaves(nnx.state(nnx_model, nnx.Param))]
    # Layer by layer: as many arrays, of the same sizes, hence the same total.
    assert sorted(nnx_sizes) == sorted(
        math.prod(leaf.shape)
        for leaf in jax.tree.leaves(eqx_model)
        if isinstance(leaf, jax.ShapeDtypeStruct)
    )
    assert _abstract_num_params(nnx_model) == _abstract_num_params(eqx_model) > 0


# -- shapes and outputs -------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("image_shape", [(8, 8, 1), (32, 32, 1), (16, 8, 3)])
def test_conv_output_shapes(framework: Framework, image_shape: tuple[int, int, int]) -> None:
    model = _conv(framework, image_shape)
    x = jax.random.uniform(jax.random.key(2), (3, *image_shape))
    recon, mean, logvar = _forward(model, x)
    assert recon.shape == (3, *image_shape)
    assert mean.shape == logvar.shape == (3, 16)
    assert recon.dtype == mean.dtype == jnp.float32
    assert model.decode(mean).shape == (3, *image_shape)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_sigmoid_output_is_the_sigmoid_of_the_logits(framework: Framework, kind: str) -> None:
    x = jax.random.uniform(jax.random.key(2), (4, 8, 8, 1))
    if kind == "mlp":
        x = x.reshape(4, 64)
        logits_model, sigmoid_model = (_mlp(framework, output=o) for o in ("logits", "sigmoid"))
    else:
        logits_model, sigmoid_model = (
            _conv(framework, (8, 8, 1), output=o) for o in ("logits", "sigmoid")
        )
    # Same seeds: the same weights and the same noise.
    logits, mean, _ = _forward(logits_model, x)
    probs, same_mean, _ = _forward(sigmoid_model, x)
    np.testing.assert_allclose(np.asarray(same_mean), np.asarray(mean), rtol=1e-6)
    assert float(logits.min()) < 0.0  # logits are not squashed
    assert float(probs.min()) > 0.0
    assert float(probs.max()) < 1.0
    np.testing.assert_allclose(
        np.asarray(probs), np.asarray(jax.nn.sigmoid(logits)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    ("image_shape", "channels", "message"),
    [
        ((10, 10, 1), (32, 64), r"divisible by 2\*\*len\(channels\) = 4.*got 10x10"),
        ((8, 8, 1), (4, 4, 4, 4), r"divisible by 2\*\*len\(channels\) = 16.*got 8x8"),
        ((32, 12, 1), (4, 4, 4), r"= 8.*got 32x12"),
        ((8, 8, 1), (), "channels must be a non-empty sequence"),
        ((8, 0, 1), (4,), r"positive ints; got \(8, 0, 1\)"),
    ],
)
def test_conv_rejects_bad_shapes(
    framework: Framework,
    image_shape: tuple[int, int, int],
    channels: tuple[int, ...],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        _conv(framework, image_shape, channels=channels)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_conv_rejects_images_of_another_shape(framework: Framework) -> None:
    model = _conv(framework, (8, 8, 1))
    with pytest.raises(ValueError, match=r"images of shape \(batch, \*\(8, 8, 1\)\); got"):
        model.encode(jnp.zeros((2, 16, 16, 1)))


# -- the twins compute the same function --------------------------------------------------


def _copy_equinox_weights_into(nnx_model: Any, eqx_model: Any) -> None:
    """Set the NNX model's parameters to the Equinox model's, in NNX's layouts."""

    def dense(target: nnx.Linear, source: eqx.nn.Linear) -> None:
        target.kernel[...] = source.weight.T
        assert source.bias is not None
        assert target.bias is not None
        target.bias[...] = source.bias

    def conv(target: Any, source: Any, *, transposed: bool) -> None:
        # Equinox: (out, in, kh, kw). NNX Conv: (kh, kw, in, out); NNX ConvTranspose
        # with transpose_kernel=True: (kh, kw, out, in), spatially flipped.
        if transposed:
            target.kernel[...] = jnp.transpose(source.weight, (2, 3, 0, 1))[::-1, ::-1]
        else:
            target.kernel[...] = jnp.transpose(source.weight, (2, 3, 1, 0))
        target.bias[...] = source.bias.reshape(-1)

    for target, source in zip(nnx_model.encoder_convs, eqx_model.encoder_convs, strict=True):
        conv(target, source, transposed=False)
    for target, source in zip(nnx_model.decoder_convs, eqx_model.decoder_convs, strict=True):
        conv(target, source, transposed=True)
    conv(nnx_model.decoder_out, eqx_model.decoder_out, transposed=False)
    for name in ("encoder", "mean", "logvar", "decoder_hidden", "decoder_expand"):
        dense(getattr(nnx_model, name), getattr(eqx_model, name))


def test_conv_twins_compute_the_same_function() -> None:
    # Not square and with three channels, so that a mixed-up axis would show.
    image_shape = (16, 8, 3)
    nnx_model = _conv("nnx", image_shape)
    eqx_model = _conv("equinox", image_shape, seed=1)
    x = jax.random.uniform(jax.random.key(3), (4, *image_shape))
    z = jax.random.normal(jax.random.key(4), (4, 16))
    before = np.asarray(nnx_model.decode(z))
    _copy_equinox_weights_into(nnx_model, eqx_model)
    assert not np.allclose(before, np.asarray(nnx_model.decode(z)))  # the copy took effect
    for got, want in zip(nnx_model.encode(x), eqx_model.encode(x), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(nnx_model.decode(z)), np.asarray(eqx_model.decode(z)), rtol=1e-5, atol=1e-6
    )


# -- training -----------------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_conv_vae_trains_on_digits(framework: Framework) -> None:
    images = jnp.asarray(digits().train[:64].reshape(-1, 8, 8, 1))
    config = VAETrainingConfig(kl_annealing="none")
    trainer: VAETrainer[Any]
    if framework == "nnx":
        model = nnx_models.ConvVAE((8, 8, 1), rngs=nnx.Rngs(0), **SMALL_CONV)
        optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
        trainer = VAETrainer(model, optimizer, config)
    else:
        eqx_model = eqx_models.ConvVAE((8, 8, 1), key=jax.random.key(0), **SMALL_CONV)
        trainer = VAETrainer(eqx_model, optax.adam(1e-3), config, key=jax.random.key(1))
    losses = [float(trainer.train_step(images, loss_type="bce_logits")[0]) for _ in range(100)]
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    # 64 pixels of binary cross-entropy near log(2) each at the start.
    assert 30.0 < first < 60.0
    assert last < 0.8 * first
    assert trainer.step == 100
