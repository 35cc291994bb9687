"""What a VAE model returns: `(recon_x, mean, logvar)`, or a mapping with those entries."""

from collections.abc import Mapping
from typing import Any

import jax

RECONSTRUCTION_KEYS = ("reconstructed", "reconstruction")
LOGVAR_KEYS = ("log_var", "logvar")

ACCEPTED_OUTPUTS = (
    "a (recon_x, mean, logvar) tuple of arrays, or a mapping with a 'reconstructed' or "
    "'reconstruction' entry, a 'mean' entry and a 'log_var' or 'logvar' entry"
)


def vae_outputs(outputs: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Normalise a model's output to `(recon_x, mean, logvar)`.

    Accepts the documented triple and the mappings that models written for the reference
    library return.

    Raises:
        TypeError: for any other output; the message says what is accepted.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import vae_outputs
        >>> out = {
        ...     "reconstructed": jnp.ones(2),
        ...     "mean": jnp.zeros(1),
        ...     "log_var": jnp.zeros(1),
        ... }
        >>> [a.shape for a in vae_outputs(out)]
        [(2,), (1,), (1,)]
    """
    if isinstance(outputs, Mapping):
        recon_x = _first_present(outputs, RECONSTRUCTION_KEYS)
        mean = _first_present(outputs, ("mean",))
        logvar = _first_present(outputs, LOGVAR_KEYS)
        if recon_x is None or mean is None or logvar is None:
            raise TypeError(
                f"the model returned a mapping with keys {sorted(map(str, outputs))}; "
                f"expected {ACCEPTED_OUTPUTS}"
            )
        triple: tuple[Any, ...] = (recon_x, mean, logvar)
    elif isinstance(outputs, tuple | list) and len(outputs) == 3:
        triple = tuple(outputs)
    else:
        raise TypeError(f"the model returned {_describe(outputs)}; expected {ACCEPTED_OUTPUTS}")
    if not all(isinstance(part, jax.Array) for part in triple):
        kinds = ", ".join(type(part).__name__ for part in triple)
        raise TypeError(f"the model returned ({kinds}); expected {ACCEPTED_OUTPUTS}")
    return triple[0], triple[1], triple[2]


def _first_present(outputs: Mapping[Any, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in outputs:
            return outputs[key]
    return None


def _describe(outputs: Any) -> str:
    if isinstance(outputs, tuple | list):
        return f"a {type(outputs).__name__} of {len(outputs)} items"
    if isinstance(outputs, jax.Array):
        return f"a single array of shape {outputs.shape}"
    return f"a {type(outputs).__name__}"
