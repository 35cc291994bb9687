"""Numbers in the pages' prose come from files (docs/page_numbers.py).

The pages that report measurements write each number as a call, `{{ mean(...) }}`, which
the docs build replaces with the value read from a study's files, a JSON file a command
wrote, or the code. These tests fail when a call cannot be answered, when a claim a call
states (a resolved or unresolved difference) is not what the files say, and when a page's
prose holds a number that is not a call: only the numbers listed below, each with its
reason (a citation, a definition, a published fact), may be typed.
"""

import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

import page_examples  # noqa: E402  # docs/ is put on the path above
import page_numbers  # noqa: E402
from elbox.cli._study._report import format_duration  # noqa: E402

# Typed numbers a page may hold, with why each is not a measurement. Each phrase must
# occur on its page (a stale entry fails too).
ALLOWED: dict[str, dict[str, str]] = {
    "guide/knobs.md": {
        "95%": "the confidence of the intervals (a definition)",
        "excludes 0": "the test of a difference (a definition)",
        "exclude 0": "the test of a difference (a definition)",
        "a beta above 1": "the beta-VAE's regime, beta > 1 (Higgins et al. 2017)",
        "rising from 0": "what annealing is (Bowman et al. 2016)",
        "8x8 digits": "the size of scikit-learn's digits (the data set)",
        "300,000 steps": "Locatello et al. (2019): their training length, published",
        "(737,280 images of 64x64)": "dSprites' size (Matthey et al. 2017), published",
    },
    "guide/evaluating.md": {
        "eq. 8": "where in Burda et al. (2016) the bound is (a citation)",
        "(1/K)": "the bound's formula (its definition)",
        "variance 1/2": "the likelihood of loss_type='mse' (its definition)",
        "scale 1": "the likelihood of loss_type='mae' (its definition)",
        "grey levels in [0, 1]": "the digits' range (the data set)",
        "a dimension near 0 carries": "what a collapsed dimension is (a definition)",
        "sec. 5.2": "where in Burda et al. (2016) active units are defined (a citation)",
        "It is 0 for an encoder that ignores x": "the estimate's floor (a definition)",
        "16x16 sprites with 10 rotations": "the example's own arguments, in its code",
        "1 is perfect, 0 means no latent stands out": "MIG's range (its definition)",
        "1 is perfectly modular": "modularity's range (its definition)",
        "1 minus the entropy": "DCI's definition (Eastwood and Williams 2018)",
    },
    "guide/theory.md": {
        "beta 1, no free bits": "the script's settings (benchmarks/theory.py)",
        "-1/2 Σ_i [log(2 π c_i) + l_i / c_i]": "the closed form (Tipping and Bishop 1999)",
        "Σ (1/2) log(l_i / sigma^2)": "the closed form (Lucas et al. 2019)",
        "sqrt(L / (2N))": "the estimate's Monte Carlo error (its definition)",
        "(D/2) log(π)": "the Gaussian likelihood's constant (its definition)",
    },
}

# Numbers a page may write in a context that a file checks: `beta N` names a setting of
# the beta study, and N must be one of its betas.


def _betas() -> set[str]:
    record = json.loads((DOCS / "studies" / "beta" / "study.json").read_text())
    return {f"{options['beta']:g}" for options in record["settings"].values()}


CONTEXTS: dict[str, list[tuple[str, Callable[[], set[str]]]]] = {
    "guide/knobs.md": [(r"\bbeta (\d+(?:\.\d+)?)\b", _betas)],
    "guide/evaluating.md": [],
    "guide/theory.md": [],
}

# A citation's year: "Bowman et al. (2016)", "Burgess et al., 2018", "Hoffman and
# Johnson, 2016", "(Tipping and Bishop 1999)".
CITATION = re.compile(r"(?:et\s+al\.|[A-Z][a-z]+),?\s+\(?(?:19|20)\d\d\b\)?")
# Mathematical names, not numbers: sigma^2, l_1, L_K.
NOTATION = re.compile(r"\b[A-Za-z]+(?:\^\d+|_\d+)")
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def prose(markdown: str) -> str:
    """The text a reader reads as sentences: no code, calls, comments, includes, links."""
    inside: set[int] = set()
    for block in page_examples.fenced_blocks_in(markdown, Path("page")):
        inside.update(range(block.line - 2, block.end))
    lines = [line for index, line in enumerate(markdown.splitlines()) if index not in inside]
    text = "\n".join(line for line in lines if not line.startswith("--8<--"))
    text = page_numbers.CALL.sub(" ", text)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets; the link text stays
    text = re.sub(r"\[[^\]]*\]\[[^\]]*\]", " ", text)  # cross-references to the API
    return re.sub(r"\s+", " ", text)  # a phrase may wrap over lines


def numbers_in(
    text: str,
    allowed: dict[str, str],
    contexts: list[tuple[str, Callable[[], set[str]]]],
    where: str = "page",
) -> list[str]:
    """The numbers of prose `text` that are neither allowed phrases, nor in contexts that
    the files check, nor citations' years or mathematical names."""
    for phrase in allowed:
        assert phrase in text, f"{where}: the allowed phrase {phrase!r} is no longer there"
        text = text.replace(phrase, " ")
    for pattern, values in contexts:
        found = values()
        for match in re.finditer(pattern, text):
            assert match[1] in found, f"{where}: {match[0]!r} names no setting of the files"
        text = re.sub(pattern, " ", text)
    text = NOTATION.sub(" ", CITATION.sub(" ", text))
    return [
        text[max(0, match.start() - 30) : match.end() + 30].replace("\n", " ")
        for match in NUMBER.finditer(text)
    ]


def typed_numbers(page: str) -> list[str]:
    """The numbers of `page`'s prose that are neither calls nor allowed."""
    text = prose((DOCS / page).read_text())
    return numbers_in(text, ALLOWED[page], CONTEXTS[page], page)


@pytest.mark.parametrize("page", sorted(ALLOWED))
def test_the_prose_holds_no_number_that_a_file_does_not_give(page: str) -> None:
    assert typed_numbers(page) == []


@pytest.mark.parametrize("page", sorted(ALLOWED))
def test_every_number_on_the_page_is_read_from_its_file(page: str) -> None:
    markdown = (DOCS / page).read_text()
    assert page_numbers.calls(markdown), f"{page} reads no number from a file"
    shown = page_numbers.with_numbers(markdown, page)
    assert "{{" not in prose(shown)


PAGES_WITH_CALLS = sorted(
    str(page.relative_to(DOCS))
    for page in DOCS.rglob("*.md")
    # docs/README.md describes the calls; mkdocs.yml leaves it out of the site.
    if page.name != "README.md" and page_numbers.calls(page.read_text())
)


@pytest.mark.parametrize("page", PAGES_WITH_CALLS)
def test_every_call_on_every_page_is_answered_by_its_file(page: str) -> None:
    # The pages outside ALLOWED (the IWAE and likelihoods guides, ...) read numbers too:
    # a benchmark re-run without a key, or a study whose claim no longer holds, fails here.
    page_numbers.with_numbers((DOCS / page).read_text(), page)


def test_the_likelihood_benchmark_is_read_from_its_file() -> None:
    assert "guide/likelihoods.md" in PAGES_WITH_CALLS
    record = json.loads((DOCS / "benchmarks" / "likelihood_step.json").read_text())
    shown = page_numbers.evaluate(
        'json("benchmarks/likelihood_step.json", "inputs.784.bernoulli_dynamic.ratio", ".2f")'
    )
    assert shown == f"{record['inputs']['784']['bernoulli_dynamic']['ratio']:.2f}"
    assert record["inputs"]["784"]["bernoulli_dynamic"]["against"] == "bce_logits_binarised"


def test_a_typed_number_is_found() -> None:
    text = "The KL falls by 4.5 nats (Higgins et\nal., 2017), `beta=4` in code, {{ x() }}, l_1."
    (found,) = numbers_in(prose(text), {}, [])
    assert "falls by 4.5 nats (Higgins  , " in found


COLLAPSE_CYCLICAL = "kl_annealing=cyclical, free_bits=off"
COLLAPSE_NONE = "kl_annealing=none, free_bits=off"


def test_a_claim_the_files_do_not_bear_out_fails_the_page() -> None:
    call = f'diff("collapse", "kl", "{COLLAPSE_CYCLICAL}", "{COLLAPSE_NONE}", "0")'
    with pytest.raises(page_numbers.NumberError, match="rewrite the sentence"):
        page_numbers.evaluate(call)
    with pytest.raises(page_numbers.NumberError, match=r"guide/x\.md: .*rewrite the sentence"):
        page_numbers.with_numbers("KL {{ " + call + " }}.", "guide/x.md")


def test_a_paired_difference_reads_as_the_study_computes_it() -> None:
    from elbox.cli._study._paired import paired_difference
    from elbox.cli._study._report import read_rows

    rows = read_rows(DOCS / "studies" / "collapse" / "study.csv")

    def kl(setting: str) -> list[float]:
        return [float(row["kl"]) for row in rows if row["setting"] == setting]

    difference = paired_difference(kl(COLLAPSE_CYCLICAL), kl(COLLAPSE_NONE))
    shown = page_numbers.evaluate(
        f'diff("collapse", "kl", "{COLLAPSE_CYCLICAL}", "{COLLAPSE_NONE}", "+")'
    )
    assert shown == (
        f"{difference.mean:+.2f} (95% interval {difference.low:+.2f} to {difference.high:+.2f})"
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('open("x")', "call one of"),
        ('mean("collapse", "kl", name)', "arguments must be literals"),
        ('mean("collapse", "kl", "nonsense")', "has no setting 'nonsense'"),
        ('mean("nowhere", "kl", "x")', "no study 'nowhere'"),
        ('code("elbox.metrics.NOTHING")', "no 'NOTHING'"),
        ("mean(", "is not a call"),
    ],
)
def test_calls_outside_the_few_functions_or_the_files_are_refused(call: str, message: str) -> None:
    with pytest.raises(page_numbers.NumberError, match=message):
        page_numbers.evaluate(call)


def test_calls_in_code_blocks_are_left_alone() -> None:
    text = "```python\nprint('{{ x }}')\n```\nseeds: {{ seeds(\"collapse\") }}\n"
    record = json.loads((DOCS / "studies" / "collapse" / "study.json").read_text())
    assert page_numbers.with_numbers(text) == (
        f"```python\nprint('{{{{ x }}}}')\n```\nseeds: {len(record['seeds'])}\n"
    )


@pytest.mark.parametrize("name", ["collapse", "beta"])
def test_the_readme_quotes_the_study_time_that_study_json_records(name: str) -> None:
    record = json.loads((DOCS / "studies" / name / "study.json").read_text())
    took = format_duration(record["run"]["seconds"])
    cpus = record["run"]["machine"]["cpus"]
    readme = (ROOT / "README.md").read_text()
    line = f"elbox study {name} --seeds 3 --output studies/{name}"
    quoted = [text for text in readme.splitlines() if text.startswith(line)]
    assert quoted, f"the README shows no `{line}`"
    assert quoted[0].endswith(f"# {took} on {cpus} cores (docs/studies/{name}/study.json)"), (
        f"the README's time for `elbox study {name}` is not study.json's: {took}"
    )


def test_the_mutual_information_ceiling_reads_log_n() -> None:
    assert float(page_numbers.evaluate('ceiling("collapse")')) == pytest.approx(
        math.log(int(page_numbers.evaluate('examples("collapse")').replace(",", ""))), abs=5e-3
    )
