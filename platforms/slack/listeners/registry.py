"""Every Events API event and slash command learnbot listens to, in one place.

``manifest.yml`` must subscribe to exactly these (``tests/test_manifest_registration.py``
checks both directions against what the listeners really register). Listeners register
with these constants, never with string literals.
"""

from __future__ import annotations

# Events API (settings.event_subscriptions.bot_events in manifest.yml).
APP_HOME_OPENED = "app_home_opened"  # publish the person's App Home
APP_UNINSTALLED = "app_uninstalled"  # stop sending to the workspace
TEAM_JOIN = "team_join"  # add the new member; tell the admins
TOKENS_REVOKED = "tokens_revoked"  # stop sending to the workspace
USER_CHANGE = "user_change"  # name, time zone, deactivation

EVENTS: tuple[str, ...] = (
    APP_HOME_OPENED,
    APP_UNINSTALLED,
    TEAM_JOIN,
    TOKENS_REVOKED,
    USER_CHANGE,
)

# Slash commands (features.slash_commands in manifest.yml).
LEARN = "/learn"

COMMANDS: tuple[str, ...] = (LEARN,)

# Shortcuts (features.shortcuts in manifest.yml), by callback_id.
GIVE_KUDOS_SHORTCUT = "give_kudos"  # message shortcut: kudos to the message's author

SHORTCUTS: tuple[str, ...] = (GIVE_KUDOS_SHORTCUT,)
