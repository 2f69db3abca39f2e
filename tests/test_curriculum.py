"""Curriculum as code: every mistake is reported with file, line and field."""

import pytest

from learning.curriculum import load_curriculum, parse_curriculum
from learning.errors import ValidationFailed
from learning.suggest import MOST_SUGGESTIONS
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
    assert problems_of(text) == [
        f"programs.yml:{line}: items.intro.titel: unknown key 'titel' (did you mean 'title'?)"
    ]


def test_missing_field_is_reported_at_the_entry():
    text = PROGRAMS.replace("          - {item: shadow, due: 10}\n", "          - {item: shadow}\n")
    [problem] = problems_of(text)
    line = line_of(text, "{item: shadow}")
    assert problem.startswith(f"programs.yml:{line}: programs.engineer.tiers[0].items[3].due:")
    assert "missing required field 'due'" in problem


def test_bad_duration_names_the_units():
    text = PROGRAMS.replace("valid_for: 1y", "valid_for: 12 fortnights")
    [problem] = problems_of(text)
    line = line_of(text, "12 fortnights")
    assert problem.startswith(f"programs.yml:{line}: certifications.safe-worker.valid_for:")
    assert "bad duration '12 fortnights'" in problem and "30d, 2w, 6mo or 1y" in problem


@pytest.mark.parametrize(
    ("written", "months", "days"),
    [
        ("1y", 12, 0),
        ("2 years", 24, 0),
        ("18mo", 18, 0),
        ("6 months", 6, 0),
        ("1 month", 1, 0),
        ("2w", 0, 14),
        ("90d", 0, 90),
        ("365d", 0, 365),
    ],
)
def test_certification_periods_count_calendar_units(written, months, days):
    text = PROGRAMS.replace("valid_for: 1y", f"valid_for: {written}")
    spec = parse_curriculum(text, "programs.yml").config.certifications["safe-worker"]
    assert (spec.valid_for.months, spec.valid_for.days) == (months, days)


def test_m_for_a_certification_period_is_refused_as_ambiguous():
    """In send_window and the other windows m means minutes; months are written mo."""
    text = PROGRAMS.replace("valid_for: 1y", "valid_for: 6m")
    [problem] = problems_of(text)
    assert problem.startswith(
        f"programs.yml:{line_of(text, '6m')}: certifications.safe-worker.valid_for:"
    )
    assert "'m' is ambiguous" in problem and "6mo" in problem
    hours = problems_of(PROGRAMS.replace("valid_for: 1y", "valid_for: 48h"))
    assert "days, weeks, months or years" in hours[0]
    # ...and windows still take minutes and hours, not months.
    window = problems_of(
        PROGRAMS.replace("organisation:", "cadence:\n  send_window: 1mo\norganisation:")
    )
    assert "bad duration '1mo'" in window[0] and "90m or 4h" in window[0]


def test_self_reported_scores_need_a_minimum_score():
    text = PROGRAMS.replace(
        "items: [safety, {item: safety-quiz, min_score: 80}]",
        "items: [{item: safety, self_reported_scores: true}, "
        "{item: safety-quiz, min_score: 80, self_reported_scores: true}]",
    )
    [problem] = problems_of(text)
    assert "certifications.safe-worker.items[0]" in problem
    assert "self_reported_scores only matters with a min_score" in problem


def test_unknown_prerequisite():
    text = PROGRAMS.replace("requires: [safety]", "requires: [safty]")
    [problem] = problems_of(text)
    line = line_of(text, "[safty]")
    assert problem == (
        f"programs.yml:{line}: items.safety-quiz.requires[0]: unknown prerequisite 'safty' "
        "(did you mean 'safety'?)"
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


def test_mistakes_of_every_kind_and_cross_references_are_listed_in_one_pass():
    text = (
        PROGRAMS.replace("    minutes: 15\n", "    minutes: 15\n    titel: typo\n", 1)  # a key
        .replace("method: shadowing", "method: osmosis")  # a value
        .replace("timezone: Europe/London", "timezone: Europe/Londn")  # a time zone
        .replace("{item: shadow, due: 10}", "{item: shadw, due: 10}")  # a cross-reference
    )
    assert problems_of(text) == [
        f"programs.yml:{line_of(text, 'Europe/Londn')}: organisation.timezone: unknown time "
        "zone 'Europe/Londn': did you mean 'Europe/London'?",
        f"programs.yml:{line_of(text, 'titel: typo')}: items.intro.titel: unknown key 'titel' "
        "(did you mean 'title'?)",
        f"programs.yml:{line_of(text, 'osmosis')}: items.shadow.method: 'osmosis' is not "
        "allowed: 'online', 'classroom', 'reading', 'video', 'shadowing' or 'assessment'",
        f"programs.yml:{line_of(text, '{item: shadw')}: programs.engineer.tiers[0].items[3].item: "
        "unknown item 'shadw' (not in the items section; did you mean 'shadow'?)",
    ]


def test_a_cross_reference_is_checked_beside_a_broken_entry_of_the_same_program():
    text = PROGRAMS.replace("{item: safety, required: true, due: 3}", "{item: safety, due: -1}")
    text = text.replace("{item: shadow, due: 10}", "{item: shadw, due: 10}")
    problems = problems_of(text)
    assert len(problems) == 2
    assert "programs.engineer.tiers[0].items[1].due" in problems[0]
    assert "unknown item 'shadw'" in problems[1]


def test_a_place_the_schema_refused_is_not_reported_again_as_a_reference():
    text = PROGRAMS.replace("{item: shadow, due: 10}", "{item: Shadow!, due: 10}")
    [problem] = problems_of(text)
    assert "programs.engineer.tiers[0].items[3].item: bad key 'Shadow!'" in problem


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("items:\n", "itmes:\n", "unknown key 'itmes' (did you mean 'items'?)"),
        ("    method: reading\n", "    mehtod: reading\n", "(did you mean 'method'?)"),
        ("  safe-worker:\n", "  safe-worker:\n    valid_fro: 1y\n", "(did you mean 'valid_for'?)"),
        (
            "working_days: [mon,",
            "working_days: [mno,",
            "or 'sun' (did you mean 'mon'?)",
        ),
        ("[Asia/Kolkata]", "[asia/kolkata]", "did you mean 'Asia/Kolkata'?"),
        ("requires: [safety-quiz]", "requires: [safety-qiz]", "(did you mean 'safety-quiz'?)"),
    ],
)
def test_an_unknown_name_gets_the_closest_known_one(old, new, expected):
    problems = problems_of(PROGRAMS.replace(old, new, 1))
    assert any(expected in problem for problem in problems), problems


def test_an_unknown_certification_tier_suggests_a_role_and_tier():
    text = PROGRAMS.replace(
        "    items: [safety, {item: safety-quiz, min_score: 80}]", "    tier: enginer/first-30"
    )
    [problem] = problems_of(text)
    assert "unknown tier 'enginer/first-30'" in problem
    assert "did you mean 'engineer/first-30'?" in problem


def test_nothing_close_gets_no_suggestion():
    [problem] = problems_of(PROGRAMS.replace("requires: [safety]", "requires: [zzz]"))
    assert problem.endswith("unknown prerequisite 'zzz'")


def test_only_the_first_unknown_names_get_suggestions_so_a_long_file_stays_quick():
    items = "".join(f"  item-{n:04d}:\n    title: T{n}\n    method: online\n" for n in range(300))
    entries = "".join(f"          - {{item: itme-{n:04d}, due: 1}}\n" for n in range(300))
    tier = "      - key: t1\n        title: T\n        starts_on_day: 0\n        items:\n"
    text = f"items:\n{items}programs:\n  eng:\n    title: E\n    tiers:\n{tier}{entries}"
    problems = problems_of(text)
    assert len(problems) == 300  # every mistake is still listed
    suggested = [p for p in problems if "did you mean" in p]
    assert len(suggested) == MOST_SUGGESTIONS
    assert (
        "unknown item 'itme-0000' (not in the items section; did you mean 'item-0000'?)"
        in (suggested[0])
    )
