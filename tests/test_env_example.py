""".env.example: every setting learnbot reads, each explained, no secrets; copied to .env it
is what `run` reads, and `run` says which Slack settings are still to fill in."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from dotenv import dotenv_values

from settings import PLACEHOLDERS, Settings
from tests.conftest import ROOT

EXAMPLE = ROOT / ".env.example"
# "NAME=value", or "# NAME=value" for a setting left at its default.
# Commented-out values that show the form of a setting with no default value.
ILLUSTRATED = {
    "SLACK_APP_TOKEN",
    "LEARNBOT_HOME",
    "LEARNBOT_PROGRAMS_FILE",
    "LEARNBOT_ADMINS",
    "LEARNBOT_LOG_LEVEL",
}
ASSIGNMENT = re.compile(r"^(?P<off># )?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


class Recording(dict[str, str]):
    """An environment that remembers every variable asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("settings must ask for variables by name")


def example_lines() -> list[str]:
    return EXAMPLE.read_text(encoding="utf-8").splitlines()


def listed() -> dict[str, str]:
    """Each variable in the example and its value (the default, where commented out)."""
    found = {}
    for line in example_lines():
        match = ASSIGNMENT.match(line)
        if match:
            assert match["name"] not in found, f"{match['name']} is listed twice"
            found[match["name"]] = match["value"]
    return found


def test_the_example_lists_every_setting_learnbot_reads_and_no_other():
    env = Recording()
    Settings.from_env(env)
    assert env.asked, "Settings.from_env read nothing"
    assert set(listed()) == env.asked


def test_each_setting_in_the_example_has_a_comment_above_it():
    lines = example_lines()
    for number, line in enumerate(lines):
        if ASSIGNMENT.match(line):
            above = lines[number - 1]
            assert above.startswith("# ") and not ASSIGNMENT.match(above), (
                f".env.example line {number + 1}: {line!r} has no comment of its own above it"
            )


def test_the_example_holds_no_secret_and_its_commented_values_are_the_defaults():
    values = dotenv_values(EXAMPLE)
    assert set(values) == {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"}  # the rest: defaults
    assert all(str(value).lower() in PLACEHOLDERS for value in values.values())
    defaults = {
        name: value
        for name, value in listed().items()
        if name not in values and name not in ILLUSTRATED
    }
    assert Settings.from_env(defaults) == Settings.from_env({})
    Settings.from_env(listed())  # the illustrations are valid values too


def test_run_with_the_example_copied_to_env_names_the_slack_settings_to_fill_in(tmp_path):
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    shutil.copy(EXAMPLE, home / ".env")  # cp .env.example .env, in LEARNBOT_HOME
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SLACK_", "LEARNBOT_", "DATABASE_URL", "LOG_", "PORT"))
    }
    env["LEARNBOT_HOME"] = str(home)

    run = subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "run"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert run.returncode == 1 and run.stdout == ""
    [line] = run.stderr.splitlines()
    assert line.startswith(
        "error: SLACK_BOT_TOKEN still has the placeholder value of .env.example; "
        "SLACK_SIGNING_SECRET still has the placeholder value of .env.example. "
        f"Create the Slack app from manifest.yml and put its credentials in {home / '.env'}"
    )
    # Nothing was started or created: no database, no lock file, in either folder.
    assert sorted(p.name for p in home.iterdir()) == [".env"]
    assert list(elsewhere.iterdir()) == []


def test_run_names_a_missing_setting_and_a_placeholder_together():
    settings = Settings.from_env(
        {"SLACK_SIGNING_SECRET": "your-signing-secret", "SLACK_APP_TOKEN": "xapp-your-token"}
    )
    try:
        settings.require_slack()
    except ValueError as error:
        message = str(error)
    else:
        raise AssertionError("placeholders must be refused")
    assert message.startswith(
        "SLACK_BOT_TOKEN is not set; SLACK_SIGNING_SECRET still has the placeholder value of "
        ".env.example; SLACK_APP_TOKEN still has the placeholder value of .env.example."
    )
