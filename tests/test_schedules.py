"""KL weight schedules against hand-computed values, eagerly and under jax.jit."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from elbox import (
    AbstractKLSchedule,
    ConstantSchedule,
    CyclicalSchedule,
    LinearWarmup,
    SigmoidWarmup,
    VAETrainingConfig,
    schedule_from_config,
)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# (schedule, [(step, expected weight)]), worked by hand from the formulas in DESIGN.md.
TABLES: list[tuple[AbstractKLSchedule, list[tuple[int, float]]]] = [
    (ConstantSchedule(beta=4.0), [(0, 4.0), (1, 4.0), (5000, 4.0), (10**6, 4.0)]),
    (
        LinearWarmup(beta=2.0, warmup_steps=100),
        [(0, 0.0), (1, 0.02), (50, 1.0), (99, 1.98), (100, 2.0), (101, 2.0), (10**6, 2.0)],
    ),
    (LinearWarmup(beta=1.0, warmup_steps=0), [(0, 1.0), (1, 1.0), (100, 1.0)]),
    (LinearWarmup(beta=1.0, warmup_steps=1), [(0, 0.0), (1, 1.0), (2, 1.0)]),
    (
        # W = 1000: centre 500, scale 100.
        SigmoidWarmup(beta=1.0, warmup_steps=1000),
        [
            (0, _sigmoid(-5.0)),  # 0.0066929
            (250, _sigmoid(-2.5)),
            (500, 0.5),
            (750, _sigmoid(2.5)),
            (1000, _sigmoid(5.0)),  # 0.9933071
            (5000, _sigmoid(45.0)),
        ],
    ),
    (
        # W = 5: centre 2.5, scale max(1, 0.5) = 1.
        SigmoidWarmup(beta=3.0, warmup_steps=5),
        [(0, 3.0 * _sigmoid(-2.5)), (2, 3.0 * _sigmoid(-0.5)), (5, 3.0 * _sigmoid(2.5))],
    ),
    (SigmoidWarmup(beta=2.0, warmup_steps=0), [(0, 2.0), (7, 2.0)]),
    (
        # P = 10: ramp over 5 steps, hold for 5, two periods.
        CyclicalSchedule(beta=4.0, period=10),
        [
            (0, 0.0),
            (1, 0.8),
            (2, 1.6),
            (4, 3.2),
            (5, 4.0),
            (9, 4.0),
            (10, 0.0),
            (12, 1.6),
            (15, 4.0),
            (19, 4.0),
            (20, 0.0),
        ],
    ),
    (
        # P = 3: half period 1.5.
        CyclicalSchedule(beta=1.0, period=3),
        [(0, 0.0), (1, 1.0 / 1.5), (2, 1.0), (3, 0.0), (4, 1.0 / 1.5)],
    ),
    (CyclicalSchedule(beta=1.0, period=1), [(0, 0.0), (1, 0.0), (2, 0.0)]),
]


@pytest.mark.parametrize(("schedule", "table"), TABLES)
def test_schedule_table(schedule: AbstractKLSchedule, table: list[tuple[int, float]]) -> None:
    for step, expected in table:
        value = schedule(step)
        assert value.shape == ()
        assert value.dtype == jnp.float32
        assert float(value) == pytest.approx(expected, rel=1e-6, abs=1e-7), step


@pytest.mark.parametrize(("schedule", "table"), TABLES)
def test_schedule_under_jit_with_traced_step(
    schedule: AbstractKLSchedule, table: list[tuple[int, float]]
) -> None:
    steps = jnp.array([step for step, _ in table], dtype=jnp.int32)
    traced = jax.jit(jax.vmap(schedule))(steps)
    eager = np.array([float(schedule(int(step))) for step in steps])
    np.testing.assert_allclose(np.asarray(traced), eager, rtol=1e-6)


def test_traced_step_compiles_once() -> None:
    schedule = LinearWarmup(beta=1.0, warmup_steps=10)
    compiled = jax.jit(schedule)
    for step in range(5):
        compiled(jnp.asarray(step))
    assert compiled._cache_size() == 1  # type: ignore[attr-defined]  # jax's PjitFunction


@pytest.mark.parametrize(
    "schedule",
    [LinearWarmup(beta=2.0, warmup_steps=300), SigmoidWarmup(beta=2.0, warmup_steps=300)],
)
def test_warmups_are_monotone_and_reach_beta(schedule: AbstractKLSchedule) -> None:
    values = np.asarray(jax.vmap(schedule)(jnp.arange(0, 1000)))
    assert np.all(np.diff(values) >= 0)
    assert values[0] < 0.02
    assert values[-1] == pytest.approx(2.0, rel=1e-4)


def test_cyclical_is_periodic() -> None:
    schedule = CyclicalSchedule(beta=1.0, period=50)
    first = np.asarray(jax.vmap(schedule)(jnp.arange(0, 50)))
    second = np.asarray(jax.vmap(schedule)(jnp.arange(50, 100)))
    np.testing.assert_array_equal(first, second)


def test_cyclical_is_exact_at_large_steps() -> None:
    # 2**24 + 1 is not representable in float32; the modulo must be taken on integers.
    schedule = CyclicalSchedule(beta=1.0, period=4)
    assert float(schedule(2**24 + 1)) == 0.5


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (VAETrainingConfig(kl_annealing="none", beta=3.0), ConstantSchedule(beta=3.0)),
        (
            VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=7, beta=2.0),
            LinearWarmup(beta=2.0, warmup_steps=7),
        ),
        (
            VAETrainingConfig(kl_annealing="sigmoid", kl_warmup_steps=9),
            SigmoidWarmup(beta=1.0, warmup_steps=9),
        ),
        (
            VAETrainingConfig(kl_annealing="cyclical", cyclical_period=20, beta=4.0),
            CyclicalSchedule(beta=4.0, period=20),
        ),
    ],
)
def test_schedule_from_config(config: VAETrainingConfig, expected: AbstractKLSchedule) -> None:
    assert schedule_from_config(config) == expected


def test_optax_schedule_fits_where_a_schedule_does() -> None:
    from elbox import ELBOObjective

    schedule = optax.linear_schedule(0.0, 2.0, transition_steps=10)
    objective = ELBOObjective(schedule=schedule)
    x = jnp.ones((2, 3))
    z = jnp.zeros((2, 1))
    _, metrics = jax.jit(objective.terms)(x, x, z, z, jnp.asarray(5))
    assert float(metrics["kl_weight"]) == pytest.approx(1.0)
