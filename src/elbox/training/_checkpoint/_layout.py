"""What one checkpoint is on disk: orbax items holding the state's arrays and a JSON record.

The items of one checkpoint are the TrainState's arrays as a flat list (orbax's standard
PyTree format; PRNG keys as their raw key data, no pickle) and one JSON record holding the
caller's metadata and the arrays' layout: each leaf's shape, dtype and PRNG implementation.
"""

from typing import Any, Final, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from ._errors import UnreadableError, reason
from ._writes import RecordHandler, SaveWrites, StateHandler

STATE: Final = "state"
RECORD: Final = "record"
FORMAT: Final = 1


class LeafSpec(NamedTuple):
    """How one leaf is stored: shape and dtype on disk, and the PRNG implementation of a key."""

    shape: tuple[int, ...]
    dtype: str
    key_impl: str | None

    def describe(self) -> str:
        kind = "" if self.key_impl is None else f" (PRNG key data, {self.key_impl})"
        return f"{self.dtype}{list(self.shape)}{kind}"


def is_key(leaf: Any) -> bool:
    """Whether `leaf` is a typed PRNG key array (stored as its raw key data)."""
    return isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def leaf_spec(leaf: Any) -> LeafSpec:
    """The stored form of `leaf`, read from its shape and dtype only (never its data)."""
    if is_key(leaf):
        data = jax.eval_shape(jax.random.key_data, leaf)
        impl = str(jax.random.key_impl(leaf))
        return LeafSpec(tuple(data.shape), str(data.dtype), impl)
    return LeafSpec(tuple(np.shape(leaf)), str(jnp.result_type(leaf)), None)


def storable(leaf: Any) -> jax.Array:
    """`leaf` as an array orbax stores as it is: a typed PRNG key becomes its raw key data."""
    if is_key(leaf):
        return jax.random.key_data(leaf)
    return jnp.asarray(leaf)


def target(leaf: Any, spec: LeafSpec) -> jax.ShapeDtypeStruct:
    """What orbax restores `leaf` as: its stored shape and dtype, on `leaf`'s devices."""
    sharding = (
        leaf.sharding
        if isinstance(leaf, jax.Array)
        else jax.sharding.SingleDeviceSharding(jax.devices()[0])
    )
    return jax.ShapeDtypeStruct(spec.shape, np.dtype(spec.dtype), sharding=sharding)


def check_json(value: Any, where: str) -> None:
    """Refuse what JSON would not give back unchanged (tuples, non-string keys, objects)."""
    if value is None or isinstance(value, str | int | float):
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for name, item in value.items():
            if not isinstance(name, str):
                raise TypeError(
                    f"{where} has the key {name!r}; JSON keys are strings, so a checkpoint "
                    "would not give it back unchanged"
                )
            check_json(item, f"{where}[{name!r}]")
        return
    raise TypeError(
        f"{where} is a {type(value).__name__}, which JSON would not give back unchanged; "
        "checkpoint metadata holds dicts with string keys, lists, str, int, float, bool "
        "and None"
    )


def handler_registry(writes: SaveWrites) -> ocp.handlers.DefaultCheckpointHandlerRegistry:
    """orbax's handlers for the two items of a checkpoint, the arrays and the JSON record,
    whose saves' writes `writes` tracks."""
    registry = ocp.handlers.DefaultCheckpointHandlerRegistry()
    state = StateHandler(writes)
    registry.add(STATE, ocp.args.StandardSave, state)
    registry.add(STATE, ocp.args.StandardRestore, state)
    record = RecordHandler(writes)
    registry.add(RECORD, ocp.args.JsonSave, record)
    registry.add(RECORD, ocp.args.JsonRestore, record)
    return registry


def parse_payload(payload: Any) -> tuple[list[LeafSpec], dict[str, Any]]:
    """The layout and metadata of a checkpoint's JSON record, or `UnreadableError`."""
    try:
        if not isinstance(payload, dict) or payload["format"] != FORMAT:
            raise ValueError("unknown record format")
        layout = [
            LeafSpec(tuple(int(n) for n in shape), str(dtype), None if impl is None else str(impl))
            for shape, dtype, impl in payload["layout"]
        ]
        metadata = payload["metadata"]
        if not isinstance(metadata, dict):
            raise ValueError("the metadata is not a JSON object")
    except (KeyError, TypeError, ValueError) as error:
        raise UnreadableError(f"its JSON record is malformed: {reason(error)}") from error
    return layout, metadata
