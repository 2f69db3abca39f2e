"""The manifest and the code agree: every event and command the app listens to is in
manifest.yml, and everything manifest.yml subscribes to is handled.

What the code registers is recorded at registration time (``App.event``, ``App.command``
and the interactivity methods are wrapped while ``build_app`` runs), so the check does
not depend on each listener folder listing itself anywhere. ``handlers.registry`` must
say the same. The other direction dispatches each subscribed event and command through
the signed pipeline and requires that a listener handled it (Bolt answers 404 otherwise).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any

import pytest
import yaml
from slack_bolt import App

from platforms.slack.listeners import registry
from server.app import build_app
from settings import Settings
from tests.conftest import ROOT
from tests.fakes.bolt_requests import SlackRequests
from tests.fakes.slack_api import FakeSlack
from tests.helpers import slack_settings

SECRET = "test-signing-secret"
INTERACTIVE = (
    "action",
    "block_action",
    "block_suggestion",
    "options",
    "view",
    "view_submission",
    "view_closed",
    "shortcut",
    "global_shortcut",
    "message_shortcut",
    "attachment_action",
    "dialog_submission",
    "dialog_cancellation",
    "dialog_suggestion",
)
SHORTCUTS = ("shortcut", "global_shortcut", "message_shortcut")

# A harmless example of each subscribed event: handled, with no effect worth checking.
EXAMPLE_EVENTS: dict[str, dict[str, Any]] = {
    "app_home_opened": {"type": "app_home_opened", "user": "U0NOBODY", "tab": "messages"},
    "app_uninstalled": {"type": "app_uninstalled"},
    "team_join": {"type": "team_join", "user": {"id": "U0BOTTY", "is_bot": True}},
    "tokens_revoked": {"type": "tokens_revoked", "tokens": {"oauth": ["U0X"], "bot": []}},
    "user_change": {"type": "user_change", "user": {"id": "U0NOBODY", "real_name": "N"}},
}


def load_manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))


def manifest_events() -> set[str]:
    return set(load_manifest()["settings"]["event_subscriptions"]["bot_events"])


def manifest_commands() -> set[str]:
    return {c["command"] for c in load_manifest()["features"].get("slash_commands", [])}


def manifest_shortcuts() -> set[str]:
    return {s["callback_id"] for s in load_manifest()["features"].get("shortcuts", [])}


def _name(constraint: Any) -> str:
    """A listener's constraint as a name; patterns and dicts are named so they fail loudly."""
    if isinstance(constraint, str):
        return constraint
    if isinstance(constraint, dict):
        return str(constraint.get("type") or constraint.get("callback_id") or constraint)
    return f"<pattern {getattr(constraint, 'pattern', constraint)!r}>"


@pytest.fixture
def fake():
    with FakeSlack() as server:
        yield server


@pytest.fixture
def settings(fake) -> Settings:
    return slack_settings(fake.base_url, signing_secret=SECRET)


@pytest.fixture
def registered(monkeypatch, settings, db, clock) -> dict[str, set[str]]:
    """What each App registration method was called with while the app was built."""
    seen: dict[str, set[str]] = defaultdict(set)

    def recording(kind: str, method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(self: App, *args: Any, **kwargs: Any) -> Any:
            constraint = args[0] if args else next(iter(kwargs.values()), "")
            seen[kind].add(_name(constraint))
            return method(self, *args, **kwargs)

        return wrapper

    for kind in ("event", "command", "message", *INTERACTIVE):
        monkeypatch.setattr(App, kind, recording(kind, getattr(App, kind)))
    build_app(settings, database=db, clock=clock)
    return seen


def test_every_event_the_code_listens_to_is_subscribed_in_the_manifest(registered):
    assert registered["event"] == manifest_events()


def test_every_slash_command_the_code_registers_is_in_the_manifest(registered):
    assert registered["command"] == manifest_commands()


def test_message_listeners_come_with_message_event_subscriptions(registered):
    if registered["message"]:
        assert any(event.startswith("message.") for event in manifest_events())


def test_shortcuts_the_code_registers_are_in_the_manifest(registered):
    shortcuts = set().union(*(registered[kind] for kind in SHORTCUTS))
    assert shortcuts == manifest_shortcuts()


def test_buttons_and_modals_need_interactivity_switched_on(registered):
    assert any(registered[kind] for kind in INTERACTIVE)  # the nudge buttons, at least
    assert load_manifest()["settings"]["interactivity"]["is_enabled"] is True


def test_the_registry_lists_exactly_what_the_manifest_subscribes_to():
    assert set(registry.EVENTS) == manifest_events()
    assert set(registry.COMMANDS) == manifest_commands()
    assert set(registry.SHORTCUTS) == manifest_shortcuts()
    assert len(registry.EVENTS) == len(set(registry.EVENTS))


@pytest.mark.parametrize("event_type", sorted(manifest_events()))
def test_each_subscribed_event_is_handled(event_type, settings, db, clock):
    app = build_app(settings, database=db, clock=clock, process_before_response=True)
    assert event_type in EXAMPLE_EVENTS, f"add an example {event_type} event to this test"
    response = SlackRequests(app, signing_secret=SECRET).event(EXAMPLE_EVENTS[event_type])
    assert response.status == 200, f"{event_type}: {response.status} {response.body}"


@pytest.mark.parametrize("command", sorted(manifest_commands()))
def test_each_slash_command_in_the_manifest_is_handled(command, settings, db, clock):
    app = build_app(settings, database=db, clock=clock, process_before_response=True)
    response = SlackRequests(app, signing_secret=SECRET).command(
        "help", user_id="U0NOBODY", command=command
    )
    assert response.status == 200, f"{command}: {response.status} {response.body}"
