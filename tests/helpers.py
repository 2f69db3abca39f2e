"""Small builders for test data files."""

from __future__ import annotations

from settings import Settings

PEOPLE_HEADER = "email,name,manager_email,role,team,role_start_date,timezone,slack_user_id"

# A compact program: two tiers, a prerequisite, a certification. Tier 2 starts on day 31.
PROGRAMS = """
organisation:
  name: Test Co
  timezone: Europe/London
calendar:
  working_days: [mon, tue, wed, thu, fri]
  holidays:
    everywhere: [2026-03-06]
    regions:
      india:
        timezones: [Asia/Kolkata]
        dates: [2026-03-04]
items:
  intro:
    title: Welcome and introductions
    method: reading
    minutes: 15
  safety:
    title: Safety training
    method: online
    url: https://lms.example.com/safety
    minutes: 30
  safety-quiz:
    title: Safety quiz
    method: assessment
    minutes: 10
    requires: [safety]
  shadow:
    title: Shadow a colleague
    method: shadowing
    minutes: 240
  advanced:
    title: Advanced practice
    method: classroom
    minutes: 120
    requires: [safety-quiz]
  sales-101:
    title: Selling 101
    method: online
    minutes: 60
programs:
  engineer:
    title: Engineer
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: intro, required: true, due: 0}
          - {item: safety, required: true, due: 3}
          - {item: safety-quiz, required: true, due: 1}
          - {item: shadow, due: 10}
      - key: proficient
        title: Proficient
        starts_on_day: 31
        items:
          - {item: advanced, required: true, due: 5}
  sales:
    title: Sales
    tiers:
      - key: first-30
        title: First 30 days
        starts_on_day: 0
        items:
          - {item: intro, required: true, due: 0}
          - {item: safety, required: true, due: 5}
          - {item: sales-101, required: true, due: 5}
certifications:
  safe-worker:
    title: Safe Worker
    items: [safety, {item: safety-quiz, min_score: 80}]
    valid_for: 1y
"""


def people_csv(*rows: str, header: str = PEOPLE_HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


# Tests wait as long as an answer takes: "working on it" is a time budget, and a test
# that depended on beating it would depend on the machine's speed (its own tests set a
# small budget and hold the work back with an event).
ANSWER_WAIT_SECONDS = 120.0


def slack_settings(base_url: str, *, signing_secret: str, **overrides: object) -> Settings:
    """Settings for an app under test: dummy token, the fake's URL, a patient ack budget."""
    values: dict[str, object] = {
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": signing_secret,
        "slack_api_url": base_url,
        "ack_budget_seconds": ANSWER_WAIT_SECONDS,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def slack_id(session, person):  # type: ignore[no-untyped-def]
    """The Slack user id of ``person`` (their Slack chat account), or None."""
    from platforms.slack.identity import slack_id_of

    return slack_id_of(session, person.id)


def drop_slack_account(session, email: str) -> None:  # type: ignore[no-untyped-def]
    """Take ``email``'s Slack account away (they are no longer reachable in Slack)."""
    from sqlalchemy import delete, select

    from models import ChatAccount, Person

    person_id = select(Person.id).where(Person.email == email).scalar_subquery()
    session.execute(delete(ChatAccount).where(ChatAccount.person_id == person_id))
