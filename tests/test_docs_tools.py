"""The pure parts of the docs tools: public paths for the API reference, and the browser
check's bookkeeping (which pages, which screenshot names, which problems)."""

from pathlib import Path

import api_names
import check_site


def test_private_module_paths_become_public() -> None:
    assert api_names.public_identifier("elbox._custom_types.StepLike") == "elbox.StepLike"
    assert (
        api_names.public_identifier("elbox.training._checkpoint._errors.CheckpointError")
        == "elbox.training.CheckpointError"
    )
    # Members follow their class.
    assert (
        api_names.public_identifier("elbox.trainers._vae_trainer.VAETrainer.train_step")
        == "elbox.VAETrainer.train_step"
    )
    # Defined in a private module of elbox, exported by a public subpackage only.
    assert (
        api_names.public_identifier("elbox.trainers._loop_steps.LoopSteps")
        == "elbox.training.LoopSteps"
    )


def test_paths_without_a_public_home_are_kept() -> None:
    for identifier in [
        "elbox.trainers._engine.Engine._jit",  # a private member
        "elbox.trainers._engine.refuse_tracers",  # not exported
        "elbox.VAETrainer",  # already public
        "jax.Array",  # not elbox
        "elbox._nothing.Here",  # no such module
    ]:
        assert api_names.public_identifier(identifier) == identifier


def test_autoref_identifiers_are_rewritten() -> None:
    html = '<autoref identifier="elbox._custom_types.Batch" optional hover>Batch</autoref>'
    assert api_names.with_public_identifiers(html) == (
        '<autoref identifier="elbox.Batch" optional hover>Batch</autoref>'
    )


def test_hover_text_of_parameters_in_attribute_values_is_rewritten() -> None:
    html = '<autoref identifier="elbox.data._shapes_grid.ShapesGrid(size)">size</autoref>'
    assert api_names.with_public_identifiers(html) == (
        '<autoref identifier="elbox.data.ShapesGrid(size)">size</autoref>'
    )


def test_private_names_are_found() -> None:
    content = (
        '<a title="StepLike (&lt;code&gt;elbox._custom_types.StepLike&lt;/code&gt;)">x</a>'
        '<span title="elbox.Missing">Missing</span>'
        '<span title="elbox.VAETrainingConfig.beta">beta</span>'  # a member: allowed
        '<span class="n">_Item</span><span class="n">__call__</span>'
    )
    assert api_names.private_names(content) == [
        "a reference to elbox.Missing, which no page documents",
        "hover text elbox._custom_types.StepLike",
        "the private name _Item",
    ]


def test_pages_of_a_site(tmp_path: Path) -> None:
    for path in [
        "index.html",
        "404.html",
        "guide/vae-trainer/index.html",
        "api/index.html",
        "assets/javascripts/x.html",
        "search/search_index.json",
    ]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("<html></html>")
    assert check_site.site_pages(tmp_path) == ["", "api/", "guide/vae-trainer/"]
    names = [check_site.screenshot_name(page) for page in check_site.site_pages(tmp_path)]
    assert names == ["index.png", "api.png", "guide--vae-trainer.png"]


def test_measurements_become_problems() -> None:
    measured = {
        "overflowing": [
            {"box": "code", "scrollWidth": 711, "clientWidth": 688, "text": "x = 1"},
            {"box": "the page", "scrollWidth": 1300, "clientWidth": 1280, "text": ""},
        ],
        "broken": ["kl_annealing"],
        "images": ["http://127.0.0.1/images/a.png"],
    }
    problems = [str(problem) for problem in check_site.overflow_problems("api/", measured)]
    assert problems == [
        "api/: overflows sideways: code is 23 px too wide (711 > 688): 'x = 1'",
        "api/: overflows sideways: the page is 20 px too wide (1300 > 1280)",
        "api/: identifier broken across lines: 'kl_annealing'",
        "api/: image not loaded: http://127.0.0.1/images/a.png",
    ]
