"""The convolutional reference models on elbox's fast layers: `BurgessVAE` (network A of the
disentanglement literature) counted by hand, the NNX and Equinox twins computing the same
function, and checkpoints written by models built on the frameworks' own layers (as
`ConvVAE` was before) loading into today's models. (That the layers train is checked by
`ConvVAE`'s training in test_models.py: the same layers, and one compilation fewer.)"""

from pathlib import Path
from typing import Any, cast

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from elbox import DecoderOutputs
from elbox.models import equinox as eqx_models
from elbox.models import nnx as nnx_models
from elbox.trainers._engine import Engine
from elbox.training import load_checkpoint
from elbox.training._checkpoint import CheckpointStore

from .helpers import FRAMEWORKS, Framework

SMALL_CONV: dict[str, Any] = {"channels": (8, 16), "hidden": 64, "latent": 16}


def _param_sizes(model: Any) -> list[int]:
    if isinstance(model, nnx.Module):
        leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
    else:
        leaves = [leaf for leaf in jax.tree.leaves(model) if isinstance(leaf, jax.ShapeDtypeStruct)]
    return [int(np.prod(leaf.shape)) for leaf in leaves]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_burgess_parameter_count_by_hand(framework: Framework) -> None:
    # 64x64x1 images, latent 10. A k x k convolution has k*k*in*out weights + out biases;
    # the bottleneck is 4 x 4 x 64 = 1024 values.
    # encoder convs 1->32, 32->32, 32->64, 64->64:  544 + 16416 + 32832 + 65600
    # encoder dense 1024 -> 256:                    1024*256 + 256  = 262400
    # mean, logvar 256 -> 10:                       2*(256*10 + 10) =   5140
    # decoder dense 10 -> 256, 256 -> 1024:         2816 + 263168
    # transposed convs 64->64, 64->32, 32->32, 32->1: 65600 + 32800 + 16416 + 513
    expected = 544 + 16416 + 32832 + 65600 + 262400 + 5140 + 2816 + 263168
    expected += 65600 + 32800 + 16416 + 513
    assert expected == 764245
    # Shapes only: drawing the weights would only be slow.
    if framework == "nnx":
        model = nnx.eval_shape(lambda: nnx_models.BurgessVAE((64, 64, 1), rngs=nnx.Rngs(0)))
    else:
        model = eqx.filter_eval_shape(eqx_models.BurgessVAE, (64, 64, 1), key=jax.random.key(0))
    assert sum(_param_sizes(model)) == expected


def _drawn(abstract: Any, seed: int) -> Any:
    """`abstract` (a model's shapes) with weights drawn by NumPy: drawing them with JAX, one
    new shape after another, would compile one function per shape, slowly."""
    rng = np.random.default_rng(seed)

    def draw(leaf: Any) -> Any:
        if not isinstance(leaf, jax.ShapeDtypeStruct):
            return leaf
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            return jax.random.key(seed)
        if jnp.issubdtype(leaf.dtype, jnp.integer):
            return jnp.zeros(leaf.shape, leaf.dtype)
        return jnp.asarray(rng.normal(0.0, 0.2, leaf.shape), leaf.dtype)

    if isinstance(abstract, nnx.Module):
        graphdef, state = nnx.split(abstract)
        return nnx.merge(graphdef, jax.tree.map(draw, state))
    return jax.tree.map(draw, abstract)


def _copy_equinox_weights_into(nnx_model: Any, eqx_model: Any) -> None:
    """The NNX model's parameters set to the Equinox model's, in NNX's layouts."""

    def put(target: nnx.Param[jax.Array], value: Any) -> None:
        target.set_value(jnp.asarray(np.ascontiguousarray(value)))

    def array(source: Any) -> np.ndarray[Any, Any]:
        return np.asarray(source)

    for target, source in zip(nnx_model.encoder_convs, eqx_model.encoder_convs, strict=True):
        put(target.kernel, array(source.weight).transpose(2, 3, 1, 0))
        put(target.bias, array(source.bias).reshape(-1))
    # NNX ConvTranspose with transpose_kernel=True: (kh, kw, out, in), spatially flipped.
    for target, source in zip(nnx_model.decoder_convs, eqx_model.decoder_convs, strict=True):
        put(target.kernel, array(source.weight).transpose(2, 3, 0, 1)[::-1, ::-1])
        put(target.bias, array(source.bias).reshape(-1))
    for name in ("encoder", "mean", "logvar", "decoder_hidden", "decoder_expand"):
        target, source = getattr(nnx_model, name), getattr(eqx_model, name)
        put(target.kernel, array(source.weight).T)
        put(target.bias, array(source.bias))


def test_burgess_twins_compute_the_same_function() -> None:
    # Not square and with three channels, so that a mixed-up axis would show.
    image_shape = (32, 16, 3)
    nnx_model = _drawn(
        nnx.eval_shape(lambda: nnx_models.BurgessVAE(image_shape, latent=4, rngs=nnx.Rngs(0))),
        seed=0,
    )
    eqx_model = _drawn(
        eqx.filter_eval_shape(eqx_models.BurgessVAE, image_shape, latent=4, key=jax.random.key(0)),
        seed=1,
    )
    x = jax.random.uniform(jax.random.key(3), (2, *image_shape))
    z = jax.random.normal(jax.random.key(4), (2, 4))
    # Compiled: cheaper than running the layers' many small operations one by one.
    nnx_run = nnx.jit(lambda model, x, z: (*model.encode(x), model.decode(z)))
    eqx_run = eqx.filter_jit(lambda model, x, z: (*model.encode(x), model.decode(z)))
    before = np.asarray(nnx_run(nnx_model, x, z)[2])
    _copy_equinox_weights_into(nnx_model, eqx_model)
    got, want = nnx_run(nnx_model, x, z), eqx_run(eqx_model, x, z)
    assert not np.allclose(before, np.asarray(got[2]))  # the copy took effect
    assert want[2].shape == (2, *image_shape)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_burgess_decoder_returns_the_likelihood_s_blocks(framework: Framework) -> None:
    # Three values per pixel, the last a learned per-pixel block: the last transposed
    # convolution computes 2 per channel, and log_scale fills the third.
    outputs = DecoderOutputs(3, "per_feature")

    def recon_and_log_scale(x: jax.Array) -> tuple[jax.Array, jax.Array]:
        if framework == "nnx":
            vae = nnx_models.BurgessVAE((16, 32, 2), decoder_outputs=outputs, rngs=nnx.Rngs(0))
            assert vae.log_scale is not None
            return vae(x)[0], vae.log_scale[...]
        model = eqx_models.BurgessVAE((16, 32, 2), decoder_outputs=outputs, key=jax.random.key(0))
        assert model.log_scale is not None
        return model(x, key=jax.random.key(1))[0], model.log_scale

    # Shapes only (traced, not compiled).
    recon, log_scale = jax.eval_shape(recon_and_log_scale, jnp.zeros((2, 16, 32, 2)))
    assert recon.shape == (2, 16, 32, 6)
    assert log_scale.shape == (16, 32, 2)


def test_burgess_rejects_images_not_divisible_by_16() -> None:
    with pytest.raises(ValueError, match=r"divisible by 2\*\*len\(channels\) = 16"):
        eqx_models.BurgessVAE((24, 32, 1), key=jax.random.key(0))


# -- checkpoints of models on the frameworks' own layers ----------------------------------


def _on_framework_layers(model: Any) -> Any:
    """`model` (a `ConvVAE`) with its convolutions replaced by the framework's own layers
    holding other weights: the model as earlier releases built it."""
    if isinstance(model, nnx.Module):
        model = cast(Any, model)  # a ConvVAE, whose layers mypy does not see through Module
        rngs = nnx.Rngs(7)
        for index, conv in enumerate(model.encoder_convs):
            inputs, outputs = conv.in_features, conv.out_features
            model.encoder_convs[index] = nnx.Conv(
                inputs, outputs, (4, 4), (2, 2), padding=1, rngs=rngs
            )
        for index, conv in enumerate(model.decoder_convs):
            inputs, outputs = conv.in_features, conv.out_features
            model.decoder_convs[index] = nnx.ConvTranspose(
                inputs, outputs, (4, 4), (2, 2), padding=2, transpose_kernel=True, rngs=rngs
            )
        out = model.decoder_out
        model.decoder_out = nnx.Conv(out.in_features, out.out_features, (3, 3), rngs=rngs)
        return model
    keys = iter(jax.random.split(jax.random.key(7), 8))
    return eqx.tree_at(
        lambda m: (m.encoder_convs, m.decoder_convs, m.decoder_out),
        model,
        (
            tuple(
                eqx.nn.Conv2d(c.in_channels, c.out_channels, 4, 2, 1, key=next(keys))
                for c in model.encoder_convs
            ),
            tuple(
                eqx.nn.ConvTranspose2d(c.in_channels, c.out_channels, 4, 2, 1, key=next(keys))
                for c in model.decoder_convs
            ),
            eqx.nn.Conv2d(model.decoder_out.in_channels, 1, 3, padding=1, key=next(keys)),
        ),
    )


def _params(model: Any) -> list[np.ndarray[Any, Any]]:
    if isinstance(model, nnx.Module):
        return [np.asarray(leaf) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))]
    return [np.asarray(leaf) for leaf in jax.tree.leaves(eqx.filter(model, eqx.is_array))]


def _optimizer(model: Any, framework: Framework) -> Any:
    tx = optax.adam(1e-3)
    return nnx.Optimizer(model, tx, wrt=nnx.Param) if framework == "nnx" else tx


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_checkpoints_of_models_on_the_frameworks_layers_load(
    framework: Framework, tmp_path: Path
) -> None:
    def conv_vae() -> Any:
        if framework == "nnx":
            return nnx_models.ConvVAE((8, 8, 1), rngs=nnx.Rngs(0), **SMALL_CONV)
        return eqx_models.ConvVAE((8, 8, 1), key=jax.random.key(0), **SMALL_CONV)

    def shapes_of(make: Any) -> Any:
        return nnx.eval_shape(make) if framework == "nnx" else eqx.filter_eval_shape(make)

    old = _drawn(shapes_of(lambda: _on_framework_layers(conv_vae())), seed=1)
    engine = Engine(old, _optimizer(old, framework))
    with CheckpointStore(tmp_path) as store:
        store.save(3, engine.state, metadata={})
    model = _drawn(shapes_of(conv_vae), seed=0)
    loaded = load_checkpoint(tmp_path, model, _optimizer(model, framework))
    got, want = _params(loaded.model), _params(old)
    assert len(got) == len(want) == 20
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    if framework == "nnx":  # the same function of the same weights, too
        z = jax.random.normal(jax.random.key(4), (2, 16))
        np.testing.assert_allclose(
            np.asarray(loaded.model.decode(z)), np.asarray(old.decode(z)), rtol=1e-5, atol=1e-6
        )
