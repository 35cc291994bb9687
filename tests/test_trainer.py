"""VAETrainer on both backends: values, in-place updates, counters, compilation, fused steps."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from elbox import LinearWarmup, VAETrainer, VAETrainingConfig
from elbox.models import equinox as eqx_models
from elbox.models import nnx as nnx_models

from .helpers import (
    FEATURES,
    FRAMEWORKS,
    Framework,
    batch,
    make_trainer,
    params_of,
    patterns,
)

LINEAR_10 = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=10, beta=2.0)


@contextmanager
def count_compiles() -> Iterator[list[str]]:
    """Collects the names of XLA backend compilations that happen inside the block."""
    events: list[str] = []

    def listener(event: str, duration_secs: float, **kwargs: str | int) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


# -- the documented quick start, verbatim but for the import path ------------------------


def create_vae_model(rngs: nnx.Rngs) -> nnx.Module:
    return nnx_models.MLPVAE(FEATURES, hidden=16, latent=3, rngs=rngs)


def test_spec_quick_start_nnx(capsys: pytest.CaptureFixture[str]) -> None:
    train_loader = [batch(8, seed=s) for s in range(201)]

    # --- from spec/vae_trainer.md, "Quick Start" ---
    from flax import nnx  # noqa: I001  # the spec's import order, verbatim
    import optax

    from elbox import (
        VAETrainer,
        VAETrainingConfig,
    )

    # Create model and optimizer
    model = create_vae_model(rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-4), wrt=nnx.Param)

    # Configure VAE-specific training
    config = VAETrainingConfig(
        kl_annealing="cyclical",
        kl_warmup_steps=5000,
        beta=4.0,
        free_bits=0.5,
    )

    trainer = VAETrainer(model, optimizer, config)

    # Training loop
    for step, batch_ in enumerate(train_loader):
        loss, metrics = trainer.train_step(batch_, step=step)  # noqa: RUF059  # verbatim
        if step % 100 == 0:
            print(
                f"Step {step}: loss={metrics['loss']:.4f}, "
                f"recon={metrics['recon_loss']:.4f}, kl={metrics['kl_loss']:.4f}"
            )
    # --- end of the spec's block ---

    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in printed] == ["Step 0", "Step 100", "Step 200"]
    assert int(optimizer.step[...]) == 201
    assert trainer.step == 201
    # Cyclical, period 10000: the weight at step 200 is 4 * 200 / 5000.
    assert float(metrics["kl_weight"]) == pytest.approx(4.0 * 200 / 5000)
    # Free bits 0.5 over 3 latent dimensions: the KL term is at least 1.5 nats.
    assert float(metrics["kl_loss"]) >= 1.5 - 1e-6


def test_spec_quick_start_equinox_twin() -> None:
    model = eqx_models.MLPVAE(FEATURES, hidden=16, latent=3, key=jax.random.key(0))
    config = VAETrainingConfig(kl_annealing="cyclical", kl_warmup_steps=5000, beta=4.0)
    trainer = VAETrainer(model, optax.adam(1e-4), config, key=jax.random.key(1))
    for step, data in enumerate([batch(8, seed=s) for s in range(5)]):
        loss, metrics = trainer.train_step(data, step=step)
    assert trainer.step == 5
    assert float(metrics["kl_weight"]) == pytest.approx(4.0 * 4 / 5000)
    assert float(loss) == float(metrics["loss"])
    assert not eqx.tree_equal(trainer.model, model)


# -- values of one step ------------------------------------------------------------------


def _numpy_forward(
    params: list[np.ndarray[Any, Any]], x: np.ndarray[Any, Any], noise: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The MLP VAE in float64, layers in the order encoder, mean, logvar, decoder x2."""
    (w1, b1), (wm, bm), (wv, bv), (w2, b2), (w3, b3) = params
    h = np.maximum(x @ w1 + b1, 0.0)
    mean, logvar = h @ wm + bm, h @ wv + bv
    z = mean + np.exp(0.5 * logvar) * noise
    return np.maximum(z @ w2 + b2, 0.0) @ w3 + b3, mean, logvar


def _layers_float64(model: Any) -> list[Any]:
    names = ("encoder", "mean", "logvar", "decoder_hidden", "decoder_out")
    if isinstance(model, nnx.Module):
        return [
            (
                np.asarray(getattr(model, n).kernel[...], np.float64),
                np.asarray(getattr(model, n).bias[...], np.float64),
            )
            for n in names
        ]
    return [
        (
            np.asarray(getattr(model, n).weight, np.float64).T,
            np.asarray(getattr(model, n).bias, np.float64),
        )
        for n in names
    ]


def _next_noise(
    trainer: VAETrainer[Any], shape: tuple[int, ...], step: int
) -> np.ndarray[Any, Any]:
    """The standard-normal noise the next step draws, taken from a copy of its source."""
    model = trainer.model
    if isinstance(model, nnx.Module):
        key = nnx.clone(model.rngs).noise()  # type: ignore[attr-defined]  # MLPVAE.rngs
    else:
        key = jax.random.fold_in(trainer.key, step)
    return np.asarray(jax.random.normal(key, shape), np.float64)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("free_bits", [0.0, 0.4])
def test_one_step_metrics_match_numpy(framework: Framework, free_bits: float) -> None:
    config = VAETrainingConfig(
        kl_annealing="linear", kl_warmup_steps=10, beta=2.0, free_bits=free_bits
    )
    trainer = make_trainer(framework, config)
    x = batch(8)
    step = 3
    params = _layers_float64(trainer.model)
    noise = _next_noise(trainer, (8, 3), step)
    _, metrics = trainer.train_step(x, step=step)

    x64 = np.asarray(x, np.float64)
    recon, mean, logvar = _numpy_forward(params, x64, noise)
    recon_loss = ((recon - x64) ** 2).sum(axis=1).mean()
    kl = -0.5 * (1 + logvar - mean**2 - np.exp(logvar))
    if free_bits:
        kl = np.maximum(kl, free_bits)
    kl_loss = kl.sum(axis=1).mean()
    kl_weight = 2.0 * 3 / 10
    assert float(metrics["recon_loss"]) == pytest.approx(recon_loss, rel=1e-5)
    assert float(metrics["kl_loss"]) == pytest.approx(kl_loss, rel=1e-5)
    assert float(metrics["kl_weight"]) == pytest.approx(kl_weight, rel=1e-6)
    assert float(metrics["loss"]) == pytest.approx(recon_loss + kl_weight * kl_loss, rel=1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_parameters_after_one_step_equal_optax_by_hand(framework: Framework) -> None:
    trainer = make_trainer(framework, LINEAR_10, learning_rate=0.05)
    x = batch(8)
    model = trainer.model
    grad_fn = nnx.grad if framework == "nnx" else eqx.filter_grad
    expected_model = nnx.clone(model) if framework == "nnx" else model
    loss_fn = trainer.create_loss_fn(step=0)
    grads = grad_fn(lambda m: loss_fn(m, x)[0])(expected_model)
    if framework == "nnx":
        # The next step's noise is drawn from the model's rngs, which the grad above
        # advanced in the clone only; the clone's parameters are still the originals.
        params = nnx.state(expected_model, nnx.Param)
    else:
        params = eqx.filter(expected_model, eqx.is_inexact_array)
    tx = optax.adam(0.05)
    with jax.numpy_dtype_promotion("standard"):  # optax is not strict-promotion clean
        updates, _ = tx.update(grads, tx.init(params), params)
    expected = optax.apply_updates(params, updates)

    before = params_of(model)
    trainer.train_step(x, step=0)
    got = params_of(trainer.model)
    want = [np.asarray(leaf) for leaf in jax.tree.leaves(expected)]
    assert len(got) == len(want) == 10
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
    assert all(not np.allclose(g, b) for g, b in zip(got, before, strict=True))


# -- in place, counters, user changes ----------------------------------------------------


def test_nnx_model_and_optimizer_are_trained_in_place() -> None:
    model = nnx_models.MLPVAE(FEATURES, hidden=16, latent=3, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    trainer = VAETrainer(model, optimizer, LINEAR_10)
    kernel_before = model.encoder.kernel[...]
    copy_before = np.asarray(kernel_before)
    trainer.train_step(batch())
    assert trainer.model is model
    assert int(optimizer.step[...]) == 1
    assert not np.allclose(np.asarray(model.encoder.kernel[...]), copy_before)
    # Without donation an array taken before the step is still valid and unchanged.
    np.testing.assert_array_equal(np.asarray(kernel_before), copy_before)
    # The optimizer's moments moved too.
    mu = jax.tree.leaves(nnx.state(optimizer))
    assert any(float(jnp.abs(leaf).sum()) > 0 for leaf in mu if leaf.dtype == jnp.float32)


def test_nnx_write_back_skips_the_per_variable_trace_check() -> None:
    # The write-back sets each Variable's value slot directly on this Flax release (the
    # checked `set_raw_value` costs ~2 us per Variable per step); the values land all the
    # same, in the user's own Variables.
    from elbox.frameworks._seam import framework_of

    model = nnx_models.MLPVAE(FEATURES, hidden=16, latent=3, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    homes = framework_of(model).bind(model, optimizer).homes
    assert homes is not None
    writers = [home.write for home in [*homes.params, *homes.opt_state, *homes.model_state]]
    # Each a partial of the direct slot write, not the Variable's checked set_raw_value.
    assert writers
    assert all(getattr(writer, "func", None) is not None for writer in writers)
    trainer = VAETrainer(model, optimizer, LINEAR_10, donate=True)
    trainer.train_step(batch())
    leaves = jax.tree.leaves(trainer.state)
    assert any(model.encoder.kernel.get_raw_value() is leaf for leaf in leaves)
    assert int(optimizer.step[...]) == 1
    # With donation the old arrays are gone; the model still reads valid, trained ones.
    assert np.isfinite(np.asarray(model.encoder.kernel[...])).all()


def test_nnx_changes_between_steps_are_respected() -> None:
    trainer = make_trainer("nnx", LINEAR_10)
    model = trainer.model
    trainer.train_step(batch())
    before, _ = trainer.compute_loss(batch(), step=5)
    other = nnx_models.MLPVAE(FEATURES, hidden=16, latent=3, rngs=nnx.Rngs(42))
    nnx.update(model, nnx.state(other, nnx.Param))  # e.g. loading weights
    after, _ = trainer.compute_loss(batch(), step=5)
    # compute_loss ran on the loaded weights: the loss of the model as it now is.
    direct, _ = trainer.create_loss_fn(step=5)(nnx.clone(model), batch())
    assert float(after) != pytest.approx(float(before), rel=1e-3)
    assert float(after) == pytest.approx(float(direct), rel=1e-6)
    loaded = np.asarray(model.encoder.kernel[...])
    trainer.train_step(batch())
    moved = np.asarray(model.encoder.kernel[...]) - loaded
    assert 0 < np.abs(moved).max() < 0.05  # one adam step from the loaded weights


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_step_counter(framework: Framework) -> None:
    trainer = make_trainer(framework, LINEAR_10)
    weights = []
    for _ in range(3):
        _, metrics = trainer.train_step(batch())
        weights.append(float(metrics["kl_weight"]))
    assert weights == pytest.approx([0.0, 0.2, 0.4])
    assert trainer.step == 3
    _, metrics = trainer.train_step(batch(), step=7)
    assert float(metrics["kl_weight"]) == pytest.approx(1.4)
    assert trainer.step == 8
    _, metrics = trainer.train_step(batch())
    assert float(metrics["kl_weight"]) == pytest.approx(1.6)
    assert trainer.step == 9


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_compute_loss_changes_nothing(framework: Framework) -> None:
    trainer = make_trainer(framework, LINEAR_10)
    trainer.train_step(batch())
    before = params_of(trainer.model)
    first, metrics = trainer.compute_loss(batch(), step=4)
    second, _ = trainer.compute_loss(batch(), step=4)
    assert float(first) == float(second)
    assert float(metrics["kl_weight"]) == pytest.approx(0.8)
    assert trainer.step == 1
    for a, b in zip(before, params_of(trainer.model), strict=True):
        np.testing.assert_array_equal(a, b)


# -- compilation -------------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_thirty_steps_compile_once(framework: Framework) -> None:
    trainer = make_trainer(framework, LINEAR_10)
    data = batch()
    with count_compiles() as compiles:
        trainer.train_step(data)
        after_first = len(compiles)
        for step in range(1, 30):
            trainer.train_step(data, step=step * 7)  # new step values, same shapes
        jax.block_until_ready(trainer.model)
    assert after_first >= 1
    assert len(compiles) == after_first


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_new_shape_or_loss_type_compiles_again_once(framework: Framework) -> None:
    trainer = make_trainer(framework, LINEAR_10)
    trainer.train_step(batch(8))
    small = batch(4)
    with count_compiles() as compiles:
        trainer.train_step(small)
        trainer.train_step(small)
        trainer.train_step(small, loss_type="bce_logits")
        trainer.train_step(small, loss_type="bce_logits")
    assert len(compiles) == 2


@jax.jit
def _slow_batch(seed: jax.Array) -> jax.Array:
    """A batch in [0, 1] at the end of a chain of matrix products: about a second of work
    on a CPU, which a step on this batch cannot finish before."""
    matrix = jax.random.uniform(jax.random.key(seed), (768, 768)) / 768
    chained: jax.Array = jax.lax.fori_loop(0, 60, lambda _, a: jnp.tanh(a @ a + 0.5), matrix)
    return chained[:8, :FEATURES]


def _ready(value: jax.Array) -> bool:
    """Whether the computation that makes `value` is done (it can be read at once)."""
    return bool(value.is_ready())  # type: ignore[attr-defined]  # jax.Array's stub lacks it


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_train_step_returns_before_the_work_is_done(framework: Framework) -> None:
    trainer = make_trainer(framework, LINEAR_10)
    jax.block_until_ready(trainer.train_step(batch()))  # compiled, outside what is observed
    jax.block_until_ready(_slow_batch(jnp.asarray(0)))
    # Asynchronous dispatch: the step is queued behind the batch it needs, and train_step
    # returns at once; a step that waited for its result (or read it on the host) would
    # return values that are ready.
    data = _slow_batch(jnp.asarray(1))
    loss, metrics = trainer.train_step(data)
    assert not _ready(loss)
    assert not any(_ready(value) for value in metrics.values())
    assert trainer.step == 2  # counted without waiting either
    assert isinstance(loss, jax.Array)
    assert all(isinstance(value, jax.Array) and value.shape == () for value in metrics.values())
    # The spec's four metrics, and `skipped` of the non-finite guard (on by default).
    assert sorted(metrics) == ["kl_loss", "kl_weight", "loss", "recon_loss", "skipped"]
    assert np.isfinite(float(loss))


# -- fused steps -------------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_train_steps_equal_sequential_steps(framework: Framework) -> None:
    sequential = make_trainer(framework, LINEAR_10)
    fused = make_trainer(framework, LINEAR_10)
    batches = [batch(8, seed=s) for s in range(4)]
    sequential_metrics = [sequential.train_step(b, step=5 + i)[1] for i, b in enumerate(batches)]
    losses, metrics = fused.train_steps(jnp.stack(batches), step=5)
    assert losses.shape == (4,)
    assert fused.step == sequential.step == 9
    for name in ("loss", "recon_loss", "kl_loss", "kl_weight"):
        np.testing.assert_allclose(
            np.asarray(metrics[name]),
            [float(m[name]) for m in sequential_metrics],
            rtol=1e-5,
        )
    for a, b in zip(params_of(fused.model), params_of(sequential.model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_train_steps_accepts_a_stacked_mapping() -> None:
    trainer = make_trainer("equinox", LINEAR_10)
    losses, _ = trainer.train_steps({"image": jnp.stack([batch(), batch(seed=1)])})
    assert losses.shape == (2,)
    assert trainer.step == 2


# -- create_loss_fn ----------------------------------------------------------------------


def test_create_loss_fn_under_nnx_grad_with_a_traced_step() -> None:
    trainer = make_trainer("nnx", LINEAR_10)
    model = trainer.model

    @nnx.jit
    def weight_and_grads(model: nnx.Module, x: jax.Array, step: jax.Array) -> Any:
        loss_fn = trainer.create_loss_fn(step=step)
        (_, metrics), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, x)
        return metrics["kl_weight"], grads

    for step in (0, 5):
        weight, grads = weight_and_grads(model, batch(), jnp.asarray(step))
        assert float(weight) == pytest.approx(0.2 * step)
    leaves = jax.tree.leaves(nnx.state(grads, nnx.Param))
    assert len(leaves) == 10
    assert all(np.all(np.isfinite(np.asarray(g))) for g in leaves)


def test_create_loss_fn_under_eqx_filter_grad_with_a_traced_step() -> None:
    trainer = make_trainer("equinox", LINEAR_10)

    @eqx.filter_jit
    def weight_and_grads(model: eqx.Module, x: jax.Array, step: jax.Array) -> Any:
        loss_fn = trainer.create_loss_fn(step=step)
        (_, metrics), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model, x)
        return metrics["kl_weight"], grads

    for step in (0, 5):
        weight, grads = weight_and_grads(trainer.model, batch(), jnp.asarray(step))
        assert float(weight) == pytest.approx(0.2 * step)
    assert len(jax.tree.leaves(grads)) == 10


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_create_loss_fn_matches_compute_loss(framework: Framework) -> None:
    trainer = make_trainer(framework, LINEAR_10)
    loss_fn = trainer.create_loss_fn(step=4, loss_type="bce_logits")
    model = nnx.clone(trainer.model) if framework == "nnx" else trainer.model
    direct, _ = loss_fn(model, {"data": batch()})
    via_trainer, _ = trainer.compute_loss(batch(), step=4, loss_type="bce_logits")
    assert float(direct) == pytest.approx(float(via_trainer), rel=1e-5)


# -- training works ------------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("loss_type", ["mse", "bce_logits"])
def test_training_lowers_the_loss(framework: Framework, loss_type: str) -> None:
    trainer = make_trainer(framework, VAETrainingConfig(kl_annealing="none"))
    data = patterns(32)
    first, _ = trainer.compute_loss(data, loss_type=loss_type)  # type: ignore[arg-type]
    for _ in range(300):
        trainer.train_step(data, loss_type=loss_type)  # type: ignore[arg-type]
    last, _ = trainer.compute_loss(data, loss_type=loss_type)  # type: ignore[arg-type]
    assert float(last) <= 0.7 * float(first)


def test_bce_on_probabilities_with_a_sigmoid_decoder() -> None:
    model = eqx_models.MLPVAE(
        FEATURES, hidden=16, latent=3, output="sigmoid", key=jax.random.key(0)
    )
    trainer = VAETrainer(model, optax.adam(1e-2), VAETrainingConfig(kl_annealing="none"))
    data = patterns(32)
    first, _ = trainer.compute_loss(data, loss_type="bce")
    for _ in range(200):
        trainer.train_step(data, loss_type="bce")
    last, _ = trainer.compute_loss(data, loss_type="bce")
    assert np.isfinite(float(last))
    assert float(last) < float(first)


# -- the documented helper methods ------------------------------------------------------------


def test_documented_helper_methods() -> None:
    config = VAETrainingConfig(kl_annealing="cyclical", cyclical_period=10, beta=4.0, free_bits=0.5)
    trainer = make_trainer("equinox", config)
    assert float(trainer.get_kl_weight(0)) == 0.0
    assert float(trainer.get_kl_weight(2)) == pytest.approx(1.6)
    assert float(trainer.get_kl_weight(jnp.asarray(7))) == 4.0
    np.testing.assert_allclose(
        np.asarray(trainer.apply_free_bits(jnp.array([0.1, 0.9]))), [0.5, 0.9], rtol=1e-6
    )
    kl, per_sample = trainer.compute_kl_loss(jnp.zeros((2, 3)), jnp.zeros((2, 3)))
    assert float(kl) == pytest.approx(1.5)
    np.testing.assert_allclose(np.asarray(per_sample), [1.5, 1.5])
    x = jnp.zeros((2, 4))
    assert float(trainer.compute_reconstruction_loss(x, x + 1.0)) == 4.0
    assert float(trainer.compute_reconstruction_loss(x, x, loss_type="bce_logits")) == (
        pytest.approx(4 * np.log(2.0), rel=1e-6)
    )


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_optax_schedule_as_kl_schedule(framework: Framework) -> None:
    schedule = optax.linear_schedule(0.0, 1.0, transition_steps=4)
    trainer = make_trainer(framework, kl_schedule=schedule)
    weights = [float(trainer.train_step(batch())[1]["kl_weight"]) for _ in range(6)]
    assert weights == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.0])


def test_custom_schedule_module() -> None:
    trainer = make_trainer("equinox", kl_schedule=LinearWarmup(beta=3.0, warmup_steps=3))
    _, metrics = trainer.train_step(batch(), step=1)
    assert float(metrics["kl_weight"]) == pytest.approx(1.0)


# -- donation ------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_donation_is_opt_in(framework: Framework) -> None:
    kept = make_trainer(framework, LINEAR_10)
    donated = make_trainer(framework, LINEAR_10, donate=True)
    before_kept = jax.tree.leaves(kept.state.params)
    before_donated = jax.tree.leaves(donated.state.params)
    kept.train_step(batch())
    donated.train_step(batch())
    assert not any(leaf.is_deleted() for leaf in before_kept)
    assert all(leaf.is_deleted() for leaf in before_donated)
    # Donated or not, the two trainers computed the same step.
    for a, b in zip(params_of(kept.model), params_of(donated.model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


# -- state round trip ----------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_state_round_trip_continues_identically(framework: Framework) -> None:
    a = make_trainer(framework, LINEAR_10)
    a.train_step(batch())
    snapshot = a.state
    b = make_trainer(framework, LINEAR_10, seed=7)
    b.load_state(snapshot)
    assert b.step == 1
    loss_a, _ = a.train_step(batch(seed=1))
    loss_b, _ = b.train_step(batch(seed=1))
    assert float(loss_a) == float(loss_b)
    for x, y in zip(params_of(a.model), params_of(b.model), strict=True):
        np.testing.assert_array_equal(x, y)


def test_load_state_of_another_architecture_is_refused() -> None:
    small = make_trainer("equinox")
    other = VAETrainer(
        eqx_models.MLPVAE(FEATURES, hidden=8, latent=2, key=jax.random.key(0)), optax.sgd(0.1)
    )
    with pytest.raises(ValueError, match="does not match this trainer's model and optimizer"):
        small.load_state(other.state)
