"""Curriculum as code: every mistake is reported with file, line and field."""

import pytest

from learning.curriculum import load_curriculum, parse_curriculum
from learning.errors import ValidationFailed
from tests.helpers import PROGRAMS


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the n-th line containing ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[occurrence - 1]


def problems_of(text: str) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_curriculum(text, "programs.yml")
    return [str(problem) for problem in caught.value.problems]


def test_the_documented_example_is_valid():
    loaded = load_curriculum("examples/programs.yml")
    config = loaded.config
    assert set(config.programs) == {"engineer", "sales", "support"}
    assert all(len(program.tiers) == 2 for program in config.programs.values())
    assert len(config.certifications) >= 2
    assert config.settings().cadence.send_time.strftime("%H:%M") == "09:30"


def test_unknown_key_is_reported_with_its_line():
    text = PROGRAMS.replace("    minutes: 15\n", "    minutes: 15\n    titel: typo\n", 1)
    line = line_of(text, "titel: typo")
    assert problems_of(text) == [f"programs.yml:{line}: items.intro.titel: unknown key 'titel'"]


def test_missing_field_is_reported_at_the_entry():
    text = PROGRAMS.replace("          - {item: shadow, due: 10}\n", "          - {item: shadow}\n")
    [problem] = problems_of(text)
    line = line_of(text, "{item: shadow}")
    assert problem.startswith(f"programs.yml:{line}: programs.engineer.tiers[0].items[3].due:")
    assert "missing required field 'due'" in problem


def test_bad_duration_names_the_units():
    text = PROGRAMS.replace("valid_for: 1y", "valid_for: 12 months")
    [problem] = problems_of(text)
    line = line_of(text, "12 months")
    assert problem.startswith(f"programs.yml:{line}: certifications.safe-worker.valid_for:")
    assert "bad duration '12 months'" in problem and "30d, 2w or 1y" in problem


def test_unknown_prerequisite():
    text = PROGRAMS.replace("requires: [safety]", "requires: [safty]")
    [problem] = problems_of(text)
    line = line_of(text, "[safty]")
    assert problem == (
        f"programs.yml:{line}: items.safety-quiz.requires[0]: unknown prerequisite 'safty'"
    )


def test_prerequisite_cycle_is_named():
    text = PROGRAMS.replace(
        "    title: Safety training\n", "    title: Safety training\n    requires: [advanced]\n"
    )
    [problem] = problems_of(text)
    assert "prerequisites form a cycle: advanced -> safety-quiz -> safety -> advanced" in problem


def test_duplicate_item_key_gives_both_lines():
    text = PROGRAMS.replace(
        "  sales-101:\n", "  intro:\n    title: Again\n    method: video\n  sales-101:\n"
    )
    [problem] = problems_of(text)
    first, second = line_of(text, "  intro:"), line_of(text, "  intro:", 2)
    assert problem == f"programs.yml:{second}: intro: duplicate key 'intro' (first at line {first})"


def test_item_twice_in_one_program():
    text = PROGRAMS.replace(
        "          - {item: advanced, required: true, due: 5}", "          - {item: safety, due: 5}"
    )
    [problem] = problems_of(text)
    first, again = line_of(text, "{item: safety,"), line_of(text, "{item: safety, due: 5}")
    assert f"programs.yml:{again}: programs.engineer.tiers[1].items[0].item" in problem
    assert f"already in this program (line {first})" in problem


def test_certification_item_that_no_program_has():
    text = PROGRAMS.replace(
        "  sales-101:\n", "  orphan:\n    title: Orphan\n    method: video\n  sales-101:\n"
    ).replace("items: [safety, {item: safety-quiz", "items: [orphan, {item: safety-quiz")
    [problem] = problems_of(text)
    assert "certifications.safe-worker.items[0]" in problem
    assert "item 'orphan' is in no program" in problem


def test_bad_method_lists_the_allowed_ones():
    text = PROGRAMS.replace("method: shadowing", "method: osmosis")
    [problem] = problems_of(text)
    line = line_of(text, "osmosis")
    assert problem.startswith(f"programs.yml:{line}: items.shadow.method: 'osmosis' is not allowed")
    assert "assessment" in problem


def test_several_mistakes_are_all_reported_at_once():
    text = (
        PROGRAMS.replace("method: shadowing", "method: osmosis")
        .replace("valid_for: 1y", "valid_for: forever")
        .replace("timezone: Europe/London", "timezone: Mars/Olympus")
    )
    problems = problems_of(text)
    assert len(problems) == 3
    assert any("unknown time zone 'Mars/Olympus'" in p for p in problems)


def test_yaml_syntax_error_has_a_line():
    [problem] = problems_of(PROGRAMS.replace("  intro:\n    title:", "  intro:\n   title: [oops\n"))
    assert problem.startswith("programs.yml:")
    assert "invalid YAML" in problem


def test_send_time_must_be_quoted_hh_mm():
    # YAML reads an unquoted 9:30 as the number 570 (base 60): refuse, don't guess.
    text = PROGRAMS + "cadence:\n  send_time: 9:30\n"
    [problem] = problems_of(text)
    assert 'cadence.send_time: write the time in quotes as HH:MM, e.g. "09:30"' in problem


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValidationFailed, match="file not found"):
        load_curriculum(tmp_path / "nope.yml")
