"""VAETrainingConfig: the spec's fields and defaults, and validation messages."""

import dataclasses
import math

import numpy as np
import pytest

from elbox import VAETrainingConfig


def test_defaults_match_the_spec() -> None:
    config = VAETrainingConfig()
    assert dataclasses.asdict(config) == {
        "kl_annealing": "linear",
        "kl_warmup_steps": 10000,
        "beta": 1.0,
        "free_bits": 0.0,
        "cyclical_period": 10000,
        "free_bits_mode": "per_sample",
    }


def test_spec_quick_start_config() -> None:
    config = VAETrainingConfig(
        kl_annealing="cyclical", kl_warmup_steps=5000, beta=4.0, free_bits=0.5
    )
    assert (config.kl_annealing, config.kl_warmup_steps, config.beta, config.free_bits) == (
        "cyclical",
        5000,
        4.0,
        0.5,
    )


def test_is_frozen() -> None:
    config = VAETrainingConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.beta = 2.0  # type: ignore[misc]  # the point of the test


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"kl_annealing": "cosine"},
            "kl_annealing must be one of 'none', 'linear', 'sigmoid', 'cyclical'; got 'cosine'",
        ),
        (
            {"free_bits_mode": "global"},
            "free_bits_mode must be one of 'per_sample', 'batch'; got 'global'",
        ),
        ({"beta": -1.0}, "beta must be a finite number >= 0; got -1.0"),
        ({"beta": math.nan}, "beta must be a finite number >= 0; got nan"),
        ({"beta": math.inf}, "beta must be a finite number >= 0; got inf"),
        ({"free_bits": -0.5}, "free_bits must be a finite number >= 0; got -0.5"),
        ({"free_bits": math.nan}, "free_bits must be a finite number >= 0; got nan"),
        ({"free_bits": -math.inf}, "free_bits must be a finite number >= 0; got -inf"),
        ({"cyclical_period": 0}, "cyclical_period must be >= 1; got 0"),
        ({"cyclical_period": -5}, "cyclical_period must be >= 1; got -5"),
        ({"kl_warmup_steps": -1}, "kl_warmup_steps must be >= 0; got -1"),
        (
            {"kl_warmup_steps": 10.5},
            "kl_warmup_steps must be an integer >= 0; got 10.5 of type float",
        ),
        (
            {"cyclical_period": True},
            "cyclical_period must be an integer >= 1; got True of type bool",
        ),
        ({"beta": "4"}, "beta must be a finite number >= 0; got '4' of type str"),
    ],
)
def test_bad_values_name_the_field_and_value(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=r"VAETrainingConfig\.") as error:
        VAETrainingConfig(**kwargs)  # type: ignore[arg-type]  # deliberately bad values
    assert message in str(error.value)


def test_zero_warmup_is_allowed() -> None:
    assert VAETrainingConfig(kl_warmup_steps=0).kl_warmup_steps == 0


def test_numpy_numbers_are_stored_as_python_numbers() -> None:
    config = VAETrainingConfig(
        kl_warmup_steps=np.int64(7),  # type: ignore[arg-type]  # NumPy scalars are accepted
        beta=np.float32(2.5),  # type: ignore[arg-type]
        free_bits=1,
    )
    assert type(config.kl_warmup_steps) is int
    assert config.kl_warmup_steps == 7
    assert type(config.beta) is float
    assert config.beta == 2.5
    assert type(config.free_bits) is float
    assert config.free_bits == 1.0


def test_dict_round_trip() -> None:
    config = VAETrainingConfig(kl_annealing="sigmoid", beta=2.0, free_bits_mode="batch")
    assert VAETrainingConfig.from_dict(config.to_dict()) == config


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match=r"no field\(s\) \['warmup'\]"):
        VAETrainingConfig.from_dict({"warmup": 3})
