"""The README's example outputs: produced by docs/examples.py, committed in docs/examples/, shown in the README.

The cheap examples are run again here and compared in shape and numbers with the committed files (times
are not compared); the ones that train are marked slow. After a change to a report's layout, regenerate
with `python docs/examples.py --update-readme` (or name the examples to run).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load():
    spec = importlib.util.spec_from_file_location("readme_examples", ROOT / "docs" / "examples.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ex = _load()
README = (ROOT / "README.md").read_text(encoding="utf-8")
FIX = f"regenerate with `{ex.REGENERATE}`"


@pytest.mark.parametrize("name", list(ex.EXAMPLES))
def test_readme_block_is_the_committed_output(name):
    example = ex.EXAMPLES[name]
    committed = ex.example_path(name).read_text(encoding="utf-8")
    blocks = ex.readme_blocks(README)
    if name not in blocks:
        assert example.commands[0][0] == "python", f"README.md has no '<!-- example: {name} -->' block"
        return
    assert blocks[name] == ex.readme_block(example, committed), (
        f"README block {name} is not docs/examples/{name}.txt: {FIX}"
    )


def test_every_readme_block_has_an_example():
    assert set(ex.readme_blocks(README)) <= set(ex.EXAMPLES)


@pytest.mark.parametrize("name", [n for n, e in ex.EXAMPLES.items() if e.commands[0][0] != "python"])
def test_readme_shows_the_commands_that_made_the_output(name):
    text = " ".join(README.replace("\\\n", " ").split())
    for args in ex.EXAMPLES[name].commands:
        assert "qsnn-deploy " + " ".join(args) in text, f"README.md does not show `qsnn-deploy {' '.join(args)}`"
    for content in ex.EXAMPLES[name].files.values():
        assert content in README, "README.md does not show the example's input file as docs/examples.py writes it"


def _reproduce(name, tmp_path):
    example = ex.EXAMPLES[name]
    output = ex.run_example(example, tmp_path)
    problems = ex.compare_outputs(
        ex.example_path(name).read_text(encoding="utf-8"), output, example.rel_tol, example.volatile
    )
    assert not problems, f"example {name} no longer gives docs/examples/{name}.txt ({FIX}):\n" + "\n".join(problems)


@pytest.mark.parametrize("name", [n for n, e in ex.EXAMPLES.items() if not e.slow])
def test_cheap_example_reproduces_its_committed_output(name, tmp_path):
    _reproduce(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, e in ex.EXAMPLES.items() if e.slow])
def test_slow_example_reproduces_its_committed_output(name, tmp_path):
    _reproduce(name, tmp_path)


# --- the comparison and the README update themselves --------------------------------------------------------

OUT = "layer  a  b\nconv1  2,482.8  12\naccuracy 98.61%\n  time  50 s (train 43 s)\n"


def test_compare_outputs_ignores_spacing_and_volatile_lines():
    same = "layer a b\nconv1      2,482.8 12\naccuracy 98.61%\n  time  71 s (train 60 s)\n"
    assert ex.compare_outputs(OUT, same, volatile=(r"^\s*time\s",)) == []


@pytest.mark.parametrize(
    "changed, rel_tol",
    [
        ("layer  a  b\nconv1  2,482.8  13\naccuracy 98.61%\n  time  50 s (train 43 s)\n", 0.0),
        ("layer  a  b\nconv1  2,482.8  12\naccuracy 97.61%\n  time  50 s (train 43 s)\n", 0.005),
        ("layer  a  b\nconv2  2,482.8  12\naccuracy 98.61%\n  time  50 s (train 43 s)\n", 0.0),
        ("layer  a  b\nconv1  2,482.8  12\n  time  50 s (train 43 s)\n", 0.0),
        ("layer  a  b\nconv1  2,482.8  12\naccuracy 98.61%\n  time  51 s (train 43 s)\n", 0.0),
    ],
)
def test_compare_outputs_reports_a_changed_number_word_or_line(changed, rel_tol):
    assert ex.compare_outputs(OUT, changed, rel_tol=rel_tol)


def test_compare_outputs_within_tolerance():
    assert ex.compare_outputs("acc 98.61%", "acc 98.33%", rel_tol=0.01) == []


def test_update_readme_replaces_only_the_named_block():
    text = "a\n<!-- example: x -->\n```\nold\n```\n<!-- /example -->\nb\n<!-- example: y -->\nkeep\n<!-- /example -->\n"
    new = ex.update_readme(text, "x", "```\nnew\n```")
    assert ex.readme_blocks(new) == {"x": "```\nnew\n```", "y": "keep"}
    with pytest.raises(ValueError, match="example: z"):
        ex.update_readme(text, "z", "```\n```")


def test_excerpt_stops_before_the_named_line_and_fails_when_it_is_gone():
    cut = ex._until("Figures used")
    assert cut("a\nb\n\nFigures used:\nc\n") == "a\nb\n"
    with pytest.raises(ValueError, match="layout changed"):
        cut("a\nb\n")
