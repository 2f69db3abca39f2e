"""`python bot.py simulate`: a deterministic, readable run of the real pipeline."""

import re

from tests.conftest import EXAMPLES


def run(cli, *args: str) -> str:
    result = cli(
        "simulate",
        "--people",
        str(EXAMPLES / "people.csv"),
        "--programs",
        str(EXAMPLES / "programs.yml"),
        *args,
    )
    assert result.code == 0, result.err
    return result.out


def test_simulation_is_deterministic_for_a_seed(cli):
    first = run(cli, "--days", "3", "--seed", "7")
    assert first == run(cli, "--days", "3", "--seed", "7")
    assert first != run(cli, "--days", "3", "--seed", "8")


def test_transcript_shows_local_day_recipient_and_message_and_ends_with_a_summary(cli):
    out = run(cli, "--days", "7", "--start", "2026-11-30")
    lines = [
        line for line in out.splitlines() if re.match(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) ", line)
    ]
    assert lines, out
    # e.g. "Mon 30 Nov 09:30 Australia/Sydney     Grace Garcia: Hi Grace. 4 due soon, ..."
    assert all(re.match(r"^\w{3} \d\d \w{3} 09:30 \S+ +[^:]+: Hi \w+\.", line) for line in lines)
    assert not [line for line in lines if line.startswith(("Sat", "Sun"))]
    sent = int(re.search(r"DMs sent\s+(\d+)", out).group(1))
    assert sent == len(lines)
    assert "items completed by learners" in out
    assert "By role" in out  # the completion report of the simulated company


def test_bad_simulation_arguments_are_explained(cli):
    result = cli("simulate", "--start", "30/11/2026")
    assert (result.code, result.err.strip()) == (1, "error: --start '30/11/2026': write YYYY-MM-DD")
    result = cli("simulate", "--completion-rate", "60")
    assert "--completion-rate must be between 0 and 1" in result.err
