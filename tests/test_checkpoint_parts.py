"""The checkpoint store's parts, each on its own: on-disk layout, retention, file manifest."""

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from orbax.checkpoint import checkpoint_managers as ocp_managers

from elbox.training._checkpoint._errors import UnreadableError
from elbox.training._checkpoint._layout import (
    FORMAT,
    LeafSpec,
    check_json,
    leaf_spec,
    parse_payload,
    storable,
)
from elbox.training._checkpoint._manifest import (
    MANIFEST,
    file_digest,
    verify_manifest,
    write_manifest,
)
from elbox.training._checkpoint._retention import BestSteps, LatestSteps, metric, ranked

# -- layout ------------------------------------------------------------------------------------


def test_leaf_specs_describe_arrays_and_keys() -> None:
    assert leaf_spec(jnp.zeros((2, 3), jnp.float32)) == LeafSpec((2, 3), "float32", None)
    key_spec = leaf_spec(jax.random.key(0))
    assert key_spec.shape == (2,)
    assert key_spec.dtype == "uint32"
    assert key_spec.key_impl is not None
    assert key_spec.describe().startswith("uint32[2] (PRNG key data, ")
    np.testing.assert_array_equal(np.asarray(storable(jax.random.key(0))), [0, 0])


def test_payload_round_trip_and_malformed_records() -> None:
    payload = {"format": FORMAT, "layout": [[[3], "float32", None]], "metadata": {"epoch": 1}}
    layout, metadata = parse_payload(json.loads(json.dumps(payload)))
    assert layout == [LeafSpec((3,), "float32", None)]
    assert metadata == {"epoch": 1}
    with pytest.raises(UnreadableError, match="its JSON record is malformed"):
        parse_payload({**payload, "format": FORMAT + 1})
    with pytest.raises(UnreadableError, match="the metadata is not a JSON object"):
        parse_payload({**payload, "metadata": [1]})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": (1, 2)}, r"metadata\['a'\] is a tuple, which JSON would not give back"),
        ({1: "x"}, "metadata has the key 1; JSON keys are strings"),
        ([np.float32(1.0)], r"metadata\[0\] is a float32"),
    ],
)
def test_check_json_names_what_would_not_come_back(value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        check_json(value, "metadata")
    check_json({"ok": [1, 2.5, "x", None, True, {"nested": []}]}, "metadata")


# -- retention ---------------------------------------------------------------------------------

CONTEXT = ocp_managers.PreservationContext()


def _infos(scores: dict[int, float | None]) -> list[Any]:
    return [
        SimpleNamespace(step=step, metrics=None if score is None else {"val": score})
        for step, score in scores.items()
    ]


def test_ranking_and_metric_reading() -> None:
    assert ranked({1: 3.0, 2: 1.0, 3: None, 4: 1.0}, "min") == [2, 4, 1]
    assert ranked({1: 3.0, 2: 1.0}, "max") == [1, 2]
    assert metric({"val": 2}, "val") == 2.0
    assert metric({"val": float("nan")}, "val") is None
    assert metric({"val": True}, "val") is None
    assert metric(None, "val") is None


def test_latest_steps_keeps_the_highest_steps_in_any_save_order() -> None:
    infos = _infos({5: None, 1: None, 9: None, 3: None})
    keep = LatestSteps(2).should_preserve(infos, context=CONTEXT)
    assert [info.step for info, kept in zip(infos, keep, strict=True) if kept] == [5, 9]


def test_best_steps_keeps_the_best_with_the_metric_only() -> None:
    infos = _infos({1: 0.5, 2: None, 3: 0.2, 4: 0.9})
    best_two = BestSteps("val", "min", 2).should_preserve(infos, context=CONTEXT)
    assert [info.step for info, kept in zip(infos, best_two, strict=True) if kept] == [1, 3]
    every = BestSteps("val", "max", None).should_preserve(infos, context=CONTEXT)
    assert [info.step for info, kept in zip(infos, every, strict=True) if kept] == [1, 3, 4]


# -- manifest ----------------------------------------------------------------------------------


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "7"
    (folder / "state").mkdir(parents=True)
    (folder / "state" / "data").write_bytes(b"0123456789")
    (folder / "record.json").write_text('{"a": 1}')
    write_manifest(folder)
    return folder


def test_manifest_lists_sizes_and_digests(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    listing = json.loads((folder / MANIFEST).read_text())
    assert listing["files"]["state/data"] == [10, file_digest(folder / "state" / "data")]
    assert sorted(listing["files"]) == ["record.json", "state/data"]
    verify_manifest(folder)  # intact: no error


def test_manifest_finds_truncated_altered_and_missing_files(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "state" / "data").write_bytes(b"01234")
    with pytest.raises(UnreadableError, match="state/data has 5 bytes where 10 were written"):
        verify_manifest(folder)
    (folder / "state" / "data").write_bytes(b"9123456789")
    verify_manifest(folder, digests=False)  # the sizes agree
    with pytest.raises(UnreadableError, match="state/data differs from what was written"):
        verify_manifest(folder)
    (folder / "record.json").unlink()
    with pytest.raises(UnreadableError, match=r"record\.json: No such file"):
        verify_manifest(folder, digests=False)


def test_a_folder_without_manifest_is_not_checked(tmp_path: Path) -> None:
    folder = tmp_path / "3"
    folder.mkdir()
    verify_manifest(folder)
    (folder / MANIFEST).write_text("not json")
    with pytest.raises(UnreadableError, match=f"its file list {MANIFEST} is damaged"):
        verify_manifest(folder)
