"""Peer-learning prompts: put people who are learning the same thing in touch.

On the configured days (``settings.peer_prompts``), ``schedules.peer_prompts`` picks one
item per workspace and posts it in ``channels.community`` with two buttons, "I can help"
and "I'm learning this". A while later (``follow_up_after``) a reply in the post's
thread introduces the helpers to the learners.

Rules:

* Candidates: active items, weighted by how many distinct active people have an open
  assignment of them due from today to ``due_within_days`` ahead (the organisation's
  today). Overdue work is not counted: nothing overdue is ever shown in public. Items
  under ``min_learners`` and items prompted in the last ``no_repeat_weeks`` are left out.
* Choice: at random in proportion to the weights, from a ``random.Random`` seeded with the
  workspace and the day, so a day's choice is the same however often it is computed.
* The post names nobody. The thread introduction names only active people who allow
  public posts (``Person.public_posts``); a prompt nobody (nameable) answered is marked
  followed up without a post.

Outbox keys: ``peer:{id}:post`` and ``peer:{id}:intro`` (a reply in the post's thread).
Functions take the caller's session and never commit.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import String, cast, distinct, func, literal, select, update
from sqlmodel import Session

from delivery.outbox import NewMessage, enqueue
from learning import audit
from learning.accounts import DELIVERY_PLATFORM, user_id_column
from learning.certifications import ACTOR, insert_ignoring_conflict
from learning.clock import Clock, local_date
from learning.curriculum import PeerPromptsSpec, ProgramSettings
from learning.errors import LearnbotError
from learning.outbox_kinds import PEER_FOLLOW_UP, PEER_PROMPT, facts
from models import (
    DEFAULT_WORKSPACE,
    Assignment,
    AssignmentStatus,
    Item,
    OutboxMessage,
    OutboxStatus,
    PeerPrompt,
    PeerPromptResponse,
    Person,
    RecipientKind,
)

HELP = "help"
LEARNING = "learning"
KINDS = (HELP, LEARNING)

_PROMPTS = PeerPrompt.__table__  # type: ignore[attr-defined]
_RESPONSES = PeerPromptResponse.__table__  # type: ignore[attr-defined]

UNKNOWN_PROMPT = "That prompt is no longer in learnbot, so I can't note your answer."
UNKNOWN_PERSON = (
    "I don't have you in learnbot yet, so I can't introduce you to anyone. "
    "Ask a learnbot admin to add you to the people list."
)
INACTIVE_PERSON = "Your learnbot profile is not active, so I can't introduce you to anyone."


class PeerPromptRefused(LearnbotError):
    """A click on a prompt cannot be noted; the message says why, for the clicker."""


@dataclass(frozen=True)
class PromptCard:
    """What the public post shows, with the click counts so far."""

    prompt_id: int
    title: str
    url: str | None
    method: str
    minutes: int
    learners_due: int
    can_help: int
    learning: int
    followed_up: bool


@dataclass(frozen=True)
class ClickOutcome:
    """A click noted: ``new`` is False when the person had already clicked that button."""

    new: bool
    kind: str
    public: bool  # the clicker allows public posts (else they are never named)
    card: PromptCard


@dataclass
class FollowUps:
    """What one pass over the due follow-ups did."""

    followed_up: int = 0  # prompts marked followed up
    introduced: int = 0  # of those, with an introduction posted in the thread
    prompt_ids: list[int] = field(default_factory=list)


def post_key(prompt_id: int) -> str:
    return f"peer:{prompt_id}:post"


def intro_key(prompt_id: int) -> str:
    return f"peer:{prompt_id}:intro"


def org_today(now: datetime, settings: ProgramSettings) -> date:
    """Today in the organisation's time zone."""
    return local_date(now, settings.organisation.timezone)


# --- choosing the topic ------------------------------------------------------------------


def candidate_weights(
    session: Session, *, today: date, spec: PeerPromptsSpec
) -> dict[str, dict[int, int]]:
    """Per workspace, the items worth a prompt on ``today`` and their weights.

    The weight of an item is the number of distinct active people with an open assignment
    of it due in ``[today, today + due_within_days]``. Inactive items, items under
    ``min_learners`` and items prompted after ``today - 7 * no_repeat_weeks`` are left
    out. The counting is one grouped query over the open assignments due in that range.
    """
    end = today + timedelta(days=spec.due_within_days)
    since = today - timedelta(weeks=spec.no_repeat_weeks)
    # A handful of rows (one prompt a day at most): left out after counting, not per
    # assignment row inside the count.
    recent = set(
        session.execute(
            select(PeerPrompt.workspace_id, PeerPrompt.item_id).where(
                PeerPrompt.local_date > since  # type: ignore[operator]
            )
        ).all()
    )
    learners = func.count(distinct(Assignment.person_id))
    weights: dict[str, dict[int, int]] = defaultdict(dict)
    for workspace_id, item_id, count in session.execute(
        select(Person.workspace_id, Assignment.item_id, learners)
        .select_from(Assignment)
        .join(Person, Person.id == Assignment.person_id)
        .join(Item, Item.id == Assignment.item_id)
        .where(
            Assignment.status == AssignmentStatus.OPEN,
            Assignment.due_date >= today,  # type: ignore[operator]
            Assignment.due_date <= end,  # type: ignore[operator]
            Person.active,
            Item.active,
        )
        .group_by(Person.workspace_id, Assignment.item_id)
        .having(learners >= spec.min_learners)
    ):
        workspace = workspace_id or DEFAULT_WORKSPACE
        if (workspace, item_id) not in recent:
            weights[workspace][item_id] = int(count)
    return dict(weights)


def topic_rng(workspace_id: str, day: date) -> random.Random:
    """The random source of one workspace's choice on ``day``: the same every run."""
    return random.Random(f"peer-prompt:{workspace_id}:{day.isoformat()}")


def choose_topic(
    weights: Mapping[int, int], rng: random.Random, *, min_learners: int = 1
) -> int | None:
    """An item id drawn with probability proportional to its weight; None if none qualify.

    Items weighing less than ``min_learners`` (and at least 1) are never drawn. Items are
    taken in id order, so the same ``rng`` state gives the same item.
    """
    floor = max(1, min_learners)
    candidates = sorted((item, weight) for item, weight in weights.items() if weight >= floor)
    if not candidates:
        return None
    pick = rng.randrange(sum(weight for _, weight in candidates))
    for item, weight in candidates:
        if pick < weight:
            return item
        pick -= weight
    raise AssertionError("unreachable: pick is below the total weight")


# --- the post ----------------------------------------------------------------------------


def post_prompt(
    session: Session,
    *,
    workspace_id: str,
    item_id: int,
    learners_due: int,
    day: date,
    channel: str,
    clock: Clock,
) -> PeerPrompt | None:
    """Create the day's prompt about ``item_id`` and enqueue its post in ``channel``.

    Returns None (and changes nothing) when ``workspace_id`` already has a prompt for
    ``day``: the unique (workspace, day) constraint decides between concurrent planners.
    """
    now = clock.now()
    inserted = insert_ignoring_conflict(
        session,
        _PROMPTS,
        [
            {
                "workspace_id": workspace_id,
                "item_id": item_id,
                "local_date": day,
                "channel": channel,
                "learners_due": learners_due,
                "created_at": now,
                "followed_up_at": None,
            }
        ],
        index_elements=["workspace_id", "local_date"],
    )
    if not inserted:
        return None
    prompt_id = inserted[0]
    prompt = session.get(PeerPrompt, prompt_id)
    item = session.get(Item, item_id)
    assert prompt is not None and item is not None
    message = facts(
        PEER_PROMPT,
        prompt_id=prompt_id,
        title=item.title,
        url=item.url,
        method=item.method,
        minutes=item.minutes,
        learners_due=learners_due,
    )
    enqueue(
        session,
        [
            NewMessage(
                key=post_key(prompt_id),
                kind=message.kind,
                recipient_kind=RecipientKind.CHANNEL,
                recipient=channel,
                payload=message.values,
                workspace_id=workspace_id,
                not_before=now,
            )
        ],
        now=now,
    )
    audit.record(
        session,
        clock=clock,
        actor=ACTOR,
        action="peer_prompt.post",
        subject=item.key,
        details={
            "prompt_id": prompt_id,
            "item_id": item_id,
            "local_date": day.isoformat(),
            "channel": channel,
            "learners_due": learners_due,
        },
    )
    return prompt


# --- clicks ------------------------------------------------------------------------------


def record_click(
    session: Session, *, prompt_id: int, person: Person | None, kind: str, clock: Clock
) -> bool:
    """Note that ``person`` clicked ``kind`` ("help" or "learning") on the prompt.

    Each (prompt, person, kind) is kept once: ``INSERT ... ON CONFLICT DO NOTHING`` on the
    unique constraint, so two clicks at once still make one row. Returns True when the
    click is new (and audited), False when it was already noted.

    Raises:
        PeerPromptRefused: the prompt is unknown, or the person is unknown or inactive.
        ValueError: ``kind`` is neither "help" nor "learning" (a programming error).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown peer prompt answer {kind!r}; expected one of {KINDS}")
    if person is None or person.id is None:
        raise PeerPromptRefused(UNKNOWN_PERSON)
    if not person.active:
        raise PeerPromptRefused(INACTIVE_PERSON)
    prompt = session.get(PeerPrompt, prompt_id)
    if prompt is None or prompt.workspace_id != (person.workspace_id or DEFAULT_WORKSPACE):
        raise PeerPromptRefused(UNKNOWN_PROMPT)
    now = clock.now()
    inserted = insert_ignoring_conflict(
        session,
        _RESPONSES,
        [{"prompt_id": prompt_id, "person_id": person.id, "kind": kind, "clicked_at": now}],
        index_elements=["prompt_id", "person_id", "kind"],
    )
    if not inserted:
        return False
    audit.record(
        session,
        clock=clock,
        actor=person.email,
        action="peer_prompt.click",
        person_id=person.id,
        subject=person.email,
        details={"prompt_id": prompt_id, "item_id": prompt.item_id, "kind": kind},
    )
    return True


def prompt_card(session: Session, prompt_id: int) -> PromptCard | None:
    """The prompt as the public post shows it, with click counts by active people."""
    row = session.execute(
        select(PeerPrompt, Item)
        .join(Item, Item.id == PeerPrompt.item_id)
        .where(PeerPrompt.id == prompt_id)
    ).first()
    if row is None:
        return None
    prompt, item = row
    counts = dict(
        session.execute(
            select(PeerPromptResponse.kind, func.count())
            .join(Person, Person.id == PeerPromptResponse.person_id)
            .where(PeerPromptResponse.prompt_id == prompt_id, Person.active)
            .group_by(PeerPromptResponse.kind)
        ).all()
    )
    return PromptCard(
        prompt_id=prompt_id,
        title=item.title,
        url=item.url,
        method=item.method,
        minutes=item.minutes,
        learners_due=prompt.learners_due,
        can_help=int(counts.get(HELP, 0)),
        learning=int(counts.get(LEARNING, 0)),
        followed_up=prompt.followed_up_at is not None,
    )


def answer_prompt(
    session: Session,
    *,
    prompt_id: int,
    person: Person | None,
    kind: str,
    clock: Clock,
) -> ClickOutcome:
    """A click: note it for ``person`` (the clicker, as the platform adapter found them;
    None if unknown), and return the post's state.

    Raises:
        PeerPromptRefused: see ``record_click``.
    """
    new = record_click(session, prompt_id=prompt_id, person=person, kind=kind, clock=clock)
    card = prompt_card(session, prompt_id)
    assert person is not None and card is not None  # record_click checked both
    return ClickOutcome(new=new, kind=kind, public=person.public_posts, card=card)


# --- the follow-up -----------------------------------------------------------------------


def follow_up_prompts(session: Session, *, clock: Clock, settings: ProgramSettings) -> FollowUps:
    """Introduce helpers to learners in the thread of each prompt that is due for it.

    Due: the post has been sent, ``follow_up_after`` has passed since the prompt was made
    and it has not been followed up. Each is marked followed up by a guarded ``UPDATE``
    (so two planners at once follow it up once) and gets ``peer:{id}:intro`` as a reply
    in the post's thread, naming active helpers and learners who allow public posts.
    Nobody to name: marked followed up, nothing posted.
    """
    now = clock.now()
    result = FollowUps()
    cutoff = now - timedelta(minutes=settings.peer_prompts.follow_up_after)
    key = literal("peer:") + cast(PeerPrompt.id, String) + literal(":post")
    due = session.execute(
        select(PeerPrompt, Item, OutboxMessage.posted_message, OutboxMessage.posted_conversation)
        .join(Item, Item.id == PeerPrompt.item_id)
        .join(OutboxMessage, OutboxMessage.key == key)
        .where(
            PeerPrompt.followed_up_at.is_(None),  # type: ignore[union-attr]
            PeerPrompt.created_at <= cutoff,  # type: ignore[operator]
            OutboxMessage.status == OutboxStatus.SENT,
            OutboxMessage.posted_message.is_not(None),  # type: ignore[union-attr]
        )
        .order_by(PeerPrompt.id)  # type: ignore[arg-type]
    ).all()
    for prompt, item, post_ts, post_channel in due:
        assert prompt.id is not None
        marked = session.execute(
            update(PeerPrompt)
            .where(
                PeerPrompt.id == prompt.id,  # type: ignore[arg-type]
                PeerPrompt.followed_up_at.is_(None),  # type: ignore[union-attr]
            )
            .values(followed_up_at=now)
        )
        if not marked.rowcount:  # type: ignore[attr-defined]
            continue  # another planner got there first
        helpers, learners = _introductions(session, prompt.id)
        posted = bool(helpers or learners)  # nobody to introduce: nothing to post
        if posted:
            _enqueue_intro(session, prompt, item, helpers, learners, post_ts, post_channel, now)
            result.introduced += 1
        audit.record(
            session,
            clock=clock,
            actor=ACTOR,
            action="peer_prompt.follow_up",
            subject=item.key,
            details={
                "prompt_id": prompt.id,
                "posted": posted,
                "helper_ids": [person_id for person_id, _, _ in helpers],
                "learner_ids": [person_id for person_id, _, _ in learners],
            },
        )
        result.followed_up += 1
        result.prompt_ids.append(prompt.id)
    return result


def _enqueue_intro(
    session: Session,
    prompt: PeerPrompt,
    item: Item,
    helpers: list[tuple[int, str, str | None]],
    learners: list[tuple[int, str, str | None]],
    post_ts: str | None,
    post_channel: str | None,
    now: datetime,
) -> None:
    """The introductions, as a reply in the prompt post's thread."""
    assert prompt.id is not None
    message = facts(
        PEER_FOLLOW_UP,
        title=item.title,
        url=item.url,
        helpers=[(name, slack_id) for _, name, slack_id in helpers],
        learners=[(name, slack_id) for _, name, slack_id in learners],
    )
    new = NewMessage(
        key=intro_key(prompt.id),
        kind=message.kind,
        recipient_kind=RecipientKind.THREAD,
        recipient=post_channel or prompt.channel,
        thread_parent=post_ts,
        payload=message.values,
        workspace_id=prompt.workspace_id,
        not_before=now,
    )
    enqueue(session, [new], now=now)


def _introductions(
    session: Session, prompt_id: int
) -> tuple[list[tuple[int, str, str | None]], list[tuple[int, str, str | None]]]:
    """(person id, name, chat user id) of the helpers and of the learners who may be named,
    in click order. Someone who clicked both is introduced as a helper."""
    helpers: list[tuple[int, str, str | None]] = []
    learners: list[tuple[int, str, str | None]] = []
    for kind, person_id, name, slack_id in session.execute(
        select(
            PeerPromptResponse.kind,
            Person.id,
            Person.name,
            user_id_column(DELIVERY_PLATFORM),
        )
        .join(Person, Person.id == PeerPromptResponse.person_id)
        .where(PeerPromptResponse.prompt_id == prompt_id, Person.active, Person.public_posts)
        .order_by(PeerPromptResponse.clicked_at, PeerPromptResponse.id)  # type: ignore[arg-type]
    ):
        (helpers if kind == HELP else learners).append((person_id, name, slack_id or None))
    helper_ids = {person_id for person_id, _, _ in helpers}
    return helpers, [learner for learner in learners if learner[0] not in helper_ids]
