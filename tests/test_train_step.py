"""The functional core: TrainStep and TrainState under jit, scan and vmap, on both frameworks."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from elbox import (
    ELBOObjective,
    LinearWarmup,
    TrainState,
    TrainStep,
    VAETrainingConfig,
)
from elbox.models import equinox as eqx_models
from elbox.models import nnx as nnx_models

from .helpers import (
    FEATURES,
    FRAMEWORKS,
    HIDDEN,
    LATENT,
    Framework,
    batch,
    make_trainer,
    patterns,
)

OBJECTIVE = ELBOObjective(schedule=LinearWarmup(beta=1.0, warmup_steps=4), loss_type="bce_logits")


def _model(framework: Framework, seed: int) -> Any:
    if framework == "nnx":
        return nnx_models.MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, rngs=nnx.Rngs(seed))
    return eqx_models.MLPVAE(FEATURES, hidden=HIDDEN, latent=LATENT, key=jax.random.key(seed))


def _leaves(tree: Any) -> list[np.ndarray[Any, Any]]:
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def _assert_trees_close(a: Any, b: Any, *, rtol: float, atol: float) -> None:
    left, right = _leaves(a), _leaves(b)
    assert len(left) == len(right) > 0
    for x, y in zip(left, right, strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def _assert_trees_equal(a: Any, b: Any) -> None:
    left, right = _leaves(a), _leaves(b)
    assert len(left) == len(right) > 0
    for x, y in zip(left, right, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_init_and_jit_steps_train(framework: Framework) -> None:
    train_step = TrainStep(OBJECTIVE, optax.adam(1e-2))
    state = train_step.init(_model(framework, 0), key=jax.random.key(1))
    assert isinstance(state, TrainState)
    assert int(state.step) == 0
    assert int(state.skipped) == 0
    step = jax.jit(train_step)
    data = patterns(16)
    first, _ = train_step.evaluate(state, data)
    for _ in range(40):
        state, metrics = step(state, data)
    last, _ = train_step.evaluate(state, data)
    assert int(state.step) == 40
    assert float(metrics["kl_weight"]) == 1.0  # the warm-up of 4 steps is over
    assert float(last) < 0.9 * float(first)
    # state.model is a model of the framework, with the trained parameters.
    model = state.model
    assert isinstance(model, nnx.Module if framework == "nnx" else eqx.Module)
    run: Any = model
    recon, _, _ = run(data) if framework == "nnx" else run(data, key=jax.random.key(0))
    assert recon.shape == data.shape


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_fresh_state_can_be_donated(framework: Framework) -> None:
    # Regression: init once put one zero array in two fields, which donation refuses.
    train_step = TrainStep(OBJECTIVE, optax.adam(1e-2))
    state = train_step.init(_model(framework, 0), key=jax.random.key(1))
    first = jax.tree.leaves(state)
    state, _ = jax.jit(train_step, donate_argnums=0)(state, batch())
    assert int(state.step) == 1
    assert all(leaf.is_deleted() for leaf in first if isinstance(leaf, jax.Array))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_scan_equals_a_python_loop(framework: Framework) -> None:
    train_step = TrainStep(OBJECTIVE, optax.adam(1e-2))
    state = train_step.init(_model(framework, 0), key=jax.random.key(1))
    batches = jnp.stack([batch(8, seed=s) for s in range(5)])
    looped, looped_metrics = state, []
    for b in batches:
        looped, metrics = jax.jit(train_step)(looped, b)
        looped_metrics.append(float(metrics["loss"]))
    scanned, scanned_metrics = jax.jit(lambda s, b: jax.lax.scan(train_step, s, b))(state, batches)
    np.testing.assert_allclose(np.asarray(scanned_metrics["loss"]), looped_metrics, rtol=1e-5)
    _assert_trees_close(scanned.params, looped.params, rtol=1e-5, atol=1e-6)
    assert int(scanned.step) == 5


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_vmap_over_three_seeds_equals_three_separate_runs(framework: Framework) -> None:
    train_step = TrainStep(OBJECTIVE, optax.adam(1e-2))
    seeds = (0, 1, 2)
    states = [train_step.init(_model(framework, s), key=jax.random.key(10 + s)) for s in seeds]
    data = [batch(8, seed=s) for s in range(4)]

    separate = []
    for state in states:
        losses = []
        for b in data:
            state, metrics = jax.jit(train_step)(state, b)
            losses.append(float(metrics["loss"]))
        separate.append((state, losses))

    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
    step_all = jax.jit(jax.vmap(train_step, in_axes=(0, None)))  # the same batch for each seed
    vmapped_losses = []
    for b in data:
        stacked, metrics = step_all(stacked, b)
        vmapped_losses.append(np.asarray(metrics["loss"]))

    for index, (state, losses) in enumerate(separate):
        np.testing.assert_allclose([v[index] for v in vmapped_losses], losses, rtol=1e-5)
        one = jax.tree.map(lambda leaf, i=index: leaf[i], stacked)
        _assert_trees_close(one.params, state.params, rtol=1e-5, atol=1e-5)
        _assert_trees_close(one.opt_state, state.opt_state, rtol=1e-5, atol=1e-5)
    # The seeds really differ: their losses are not all the same.
    assert len({round(losses[-1], 4) for _, losses in separate}) == 3


def test_vmap_with_a_batch_per_seed() -> None:
    train_step = TrainStep(OBJECTIVE, optax.adam(1e-2))
    states = [train_step.init(_model("equinox", s), key=jax.random.key(s)) for s in (0, 1)]
    batches = [batch(8, seed=5), batch(8, seed=6)]
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
    stacked, metrics = jax.vmap(train_step)(stacked, jnp.stack(batches))
    for index in range(2):
        _, alone = train_step(states[index], batches[index])
        assert float(metrics["loss"][index]) == pytest.approx(float(alone["loss"]), rel=1e-5)


def test_a_make_loss_fn_factory_runs_on_the_core() -> None:
    # The spec's base-Trainer pattern: `lambda step: vae.create_loss_fn(step=step)`.
    vae = make_trainer("equinox", VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=10))
    train_step = TrainStep(lambda step: vae.create_loss_fn(step=step), optax.adam(1e-2))
    state = train_step.init(vae.model, key=vae.key)
    state, metrics = jax.jit(train_step)(_at_step(state, 5), batch())
    assert float(metrics["kl_weight"]) == pytest.approx(0.5)
    assert sorted(metrics) == ["kl_loss", "kl_weight", "loss", "recon_loss", "skipped"]
    # The same step as VAETrainer's own at step 5.
    _, expected = vae.train_step(batch(), step=5)
    assert float(metrics["loss"]) == pytest.approx(float(expected["loss"]), rel=1e-6)


def _at_step(state: TrainState, step: int) -> TrainState:
    moved: TrainState = eqx.tree_at(lambda s: s.step, state, jnp.asarray(step, jnp.int32))
    return moved


def test_the_vae_trainer_and_the_core_compute_the_same_steps() -> None:
    config = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=10, beta=2.0)
    vae = make_trainer("equinox", config, key=jax.random.key(3))
    train_step = TrainStep(vae.objective("mse"), optax.adam(1e-2))
    state = train_step.init(vae.model, key=jax.random.key(3))
    for seed in range(3):
        state, metrics = train_step(state, batch(seed=seed))
        _, expected = vae.train_step(batch(seed=seed))
        assert float(metrics["loss"]) == pytest.approx(float(expected["loss"]), rel=1e-6)
    _assert_trees_close(state.params, vae.state.params, rtol=1e-6, atol=1e-7)


def test_trainable_filter_freezes_the_rest() -> None:
    model = _model("equinox", 0)
    trainable = jax.tree.map(lambda _: False, model)
    trainable = eqx.tree_at(
        lambda m: (m.decoder_out.weight, m.decoder_out.bias), trainable, replace=(True, True)
    )
    train_step = TrainStep(OBJECTIVE, optax.sgd(0.1))
    state = train_step.init(model, key=jax.random.key(0), trainable=trainable)
    after, _ = train_step(state, batch())
    old, new = state.model, after.model
    np.testing.assert_array_equal(np.asarray(old.encoder.weight), np.asarray(new.encoder.weight))
    assert not np.array_equal(np.asarray(old.decoder_out.bias), np.asarray(new.decoder_out.bias))


@pytest.mark.usefixtures("without_hook_checks")
def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="loss must be an elbox objective or a callable"):
        TrainStep(3, optax.adam(1e-3))  # type: ignore[arg-type]  # deliberately bad
    with pytest.raises(TypeError, match=r"optimizer must be an optax\.GradientTransformation"):
        TrainStep(OBJECTIVE, "adam")  # type: ignore[arg-type]  # deliberately bad
    with pytest.raises(ValueError, match="nonfinite must be one of 'skip', 'raise', 'apply'"):
        TrainStep(OBJECTIVE, optax.adam(1e-3), nonfinite="ignore")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"trains a Flax nnx\.Module or an Equinox eqx\.Module"):
        TrainStep(OBJECTIVE, optax.adam(1e-3)).init(lambda x: x, key=jax.random.key(0))


def test_state_made_by_hand_has_no_model() -> None:
    state = TrainState(params={}, opt_state=(), step=jnp.asarray(0), key=jax.random.key(0))
    assert int(state.skipped) == 0
    with pytest.raises(ValueError, match="no model definition"):
        _ = state.model


# -- the PRNG key is part of the state ---------------------------------------------------------


def test_load_state_replaces_the_key() -> None:
    # Regression: the key used to be baked into the compiled step, so a loaded state's key
    # was reported by `trainer.key` but not used.
    used = make_trainer("equinox", key=jax.random.key(0))
    used.train_step(batch())
    fresh = make_trainer("equinox", key=jax.random.key(5))
    used.load_state(fresh.state)
    loss_after_load, _ = used.train_step(batch(seed=1), step=0)
    fresh_loss, _ = fresh.train_step(batch(seed=1), step=0)
    assert float(loss_after_load) == float(fresh_loss)
    assert jnp.array_equal(jax.random.key_data(used.key), jax.random.key_data(fresh.key))


def test_the_key_draws_the_noise() -> None:
    a = make_trainer("equinox", key=jax.random.key(0))
    b = make_trainer("equinox", key=jax.random.key(1))
    assert float(a.compute_loss(batch(), step=0)[0]) != float(b.compute_loss(batch(), step=0)[0])


def test_nnx_rng_counters_advance_in_the_state() -> None:
    train_step = TrainStep(OBJECTIVE, optax.adam(1e-2))
    state = train_step.init(_model("nnx", 0), key=jax.random.key(0))
    counts = [leaf for leaf in jax.tree.leaves(state.model_state) if leaf.dtype == jnp.uint32]
    after, _ = train_step(state, batch())
    later = [leaf for leaf in jax.tree.leaves(after.model_state) if leaf.dtype == jnp.uint32]
    assert [int(c) + 1 for c in counts] == [int(c) for c in later]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_as_train_step_is_the_trainers_own_step(framework: Framework) -> None:
    vae = make_trainer(framework, key=jax.random.key(2))
    vae.train_step(batch())
    train_step = vae.as_train_step("bce_logits")
    state, metrics = jax.jit(train_step)(vae.state, batch(seed=1))
    assert vae.step == 1  # the pure step changed nothing in the trainer
    _, expected = vae.train_step(batch(seed=1), loss_type="bce_logits")
    assert float(metrics["loss"]) == pytest.approx(float(expected["loss"]), rel=1e-6)
    _assert_trees_close(state.params, vae.state.params, rtol=1e-6, atol=1e-7)
    _assert_trees_close(state.opt_state, vae.state.opt_state, rtol=1e-6, atol=1e-7)
    loss, evaluated = vae.as_train_step(evaluation=True).evaluate(vae.state, batch())
    assert "neg_elbo" in evaluated
    assert float(loss) == pytest.approx(float(vae.evaluate(batch())["loss"]), rel=1e-6)
