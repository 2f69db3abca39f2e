"""`python bot.py simulate`: a deterministic, readable run of the real pipeline."""

import os
import re
import subprocess
import sys

from tests.conftest import EXAMPLES, ROOT


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
    # Digests greet the learner; other lines are channel posts (certification shout-outs,
    # milestones) and award DMs, at the time of the completion behind them.
    dms = [line for line in lines if re.search(r": Hi \w+\. ", line)]
    assert dms and len(dms) < len(lines)
    # e.g. "Mon 30 Nov 09:30 Australia/Sydney     Grace Garcia: Hi Grace. 4 due soon, ..."
    assert all(re.match(r"^\w{3} \d\d \w{3} 09:30 \S+ +[^:]+: Hi \w+\.", line) for line in dms)
    assert not [line for line in dms if line.startswith(("Sat", "Sun"))]
    sent = int(re.search(r"DMs sent\s+(\d+)", out).group(1))
    assert sent == len(dms)
    assert "items completed by learners" in out
    assert "By role" in out  # the completion report of the simulated company


def test_escalations_show_in_the_transcript_and_are_counted(cli):
    out = run(cli, "--days", "14", "--start", "2026-11-30")
    warned = [line for line in out.splitlines() if ": ⚠️ Overdue required training" in line]
    counted = re.search(r"escalations \(overdue items told\)\s+(\d+) in (\d+) messages", out)
    assert warned and counted, out
    items, messages = int(counted.group(1)), int(counted.group(2))
    assert messages == len(warned)
    # Each line says how many items it carries: together, the summary's count.
    told = sum(int(re.search(r"(\d+) items?$", line).group(1)) for line in warned)
    assert told == items
    # Escalations reach managers in their own morning, never on a weekend.
    assert all(re.match(r"^(Mon|Tue|Wed|Thu|Fri) \d\d \w{3} 09:30 ", line) for line in warned)


def test_certification_shout_outs_show_in_the_transcript_and_are_counted(cli):
    out = run(cli, "--days", "14", "--start", "2026-11-30")
    shout_outs = [
        line for line in out.splitlines() if "#learning-wins" in line and " earned the " in line
    ]
    awarded = int(re.search(r"certifications awarded\s+(\d+)", out).group(1))
    assert shout_outs, out
    assert awarded >= len(shout_outs)  # a person who opted out, or old news, is not posted


def test_bad_simulation_arguments_are_explained(cli):
    result = cli("simulate", "--start", "30/11/2026")
    assert (result.code, result.err.strip()) == (1, "error: --start '30/11/2026': write YYYY-MM-DD")
    result = cli("simulate", "--completion-rate", "60")
    assert "--completion-rate must be between 0 and 1" in result.err


def test_readme_quick_start_has_exactly_the_two_commands_ci_uses():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme[readme.index("## Quick start") : readme.index("## Commands")]
    commands = re.findall(r"```sh\n(.*?)\n```", quick_start, flags=re.S)
    assert len(commands) == 2 and all("\n" not in command for command in commands)
    run_command, test_command = commands
    assert run_command.endswith("bot.py simulate")
    assert test_command.endswith(".venv/bin/python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci  # .ci/run quotes the README's test command


def test_simulate_runs_as_a_real_process(tmp_path):
    run = subprocess.run(
        [sys.executable, "bot.py", "simulate", "--days", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
    )
    assert run.returncode == 0, run.stderr
    assert "Summary" in run.stdout and "DMs sent" in run.stdout
    assert not (tmp_path / "x.db").exists()  # simulations never touch the real database


def test_recognition_and_peer_learning_show_in_the_transcript_and_are_counted(cli):
    out = run(cli, "--days", "14", "--start", "2026-11-30")
    lines = out.splitlines()
    # The examples give no kudos, and each Monday still gets its game board at 10:00.
    assert not [line for line in lines if "kudos" in line.lower()]
    boards = [line for line in lines if "#learning-wins: Game board" in line]
    assert [line[:16] for line in boards] == ["Mon 30 Nov 10:00", "Mon 07 Dec 10:00"]
    assert int(re.search(r"game boards posted\s+(\d+)", out).group(1)) == len(boards)
    # Peer prompts on Tuesdays and Thursdays at 11:00, then the thread intro.
    prompts = [line for line in lines if "#learning-community: " in line]
    counted = re.search(r"peer-learning prompts\s+(\d+) \((\d+) button clicks\)", out)
    assert prompts and int(counted.group(1)) == len(prompts)
    assert all(re.match(r"^(Tue|Thu) \d\d \w{3} 11:00 ", line) for line in prompts)
    assert [line for line in lines if "#learning-community (thread): " in line]
    # At least one learner asked for a mentor and got a group DM with the mentor.
    pairings = int(re.search(r"mentor pairings\s+(\d+)", out).group(1))
    group_dms = [line for line in lines if " (group DM): " in line]
    assert pairings >= 1 and len(group_dms) == pairings
