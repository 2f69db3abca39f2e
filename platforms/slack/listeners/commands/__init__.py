"""The ``/learn`` slash command: parse, act through one domain call, answer in the ack.

A command that only reads travels in the ack body as an ephemeral message, so Slack
shows it at once and nothing else needs the ``response_url``. The work runs on a small
thread pool with a budget below Slack's 3-second limit: when it is late (a reload of a
big organisation), the ack says "working on it" and the answer follows through
``respond``.

A command that changes something (done, snooze, away, back, kudos, a setting, admin
assign and waive) acks at once, empty, and answers through ``respond`` when its unit of
work has committed: a write that waits for the database (the scheduler writing, on
SQLite) never holds the ack. On an app built with ``process_before_response=True``
(FaaS hosts, and the tests) the request is not answered before the work is done anyway,
so there every answer stays in the ack.

An admin command refused to a known person is checked once more against Slack when
``LEARNBOT_ADMINS`` contains ``slack-admins``: people imported from CSV learn their
Slack workspace role only from a ``user_change`` event, so ``users.info`` is asked (and
its answer stored, audited) before the refusal stands. If Slack cannot answer, the
refusal stands. Slack's answer, or its failure, is remembered for a while
(``handlers.user_lookups``): repeated refusals ask once.

No input reaches the person as a stack trace or an HTTP 500 (Slack shows that as
"dispatch_failed"): typed domain errors become their message, anything else is logged
with its traceback and answered with an apology.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from learning import actions, certifications, identity, kudos, members
from learning import command_parser as parser
from learning.clock import Clock, local_date
from learning.curriculum import ProgramSettings, load_curriculum
from learning.curriculum_sync import apply_config
from learning.errors import LearnbotError, ValidationFailed
from learning.home import certification_goals
from learning.paths import current_settings
from learning.progress import (
    completion_report,
    item_title,
    person_by_email,
    person_status,
    team_progress,
)
from models import Person
from platforms.slack import identity as slack_identity
from platforms.slack.listeners import registry
from platforms.slack.listeners.commands.leaderboard import leaderboard_reply
from platforms.slack.listeners.commands.mentoring import mentoring_reply
from platforms.slack.listeners.context import HandlerContext
from platforms.slack.listeners.replies import refresh_home
from platforms.slack.listeners.user_lookups import UserLookups
from platforms.slack.render import certifications as cert_replies
from platforms.slack.render import commands as replies
from platforms.slack.render import kudos as kudos_replies
from platforms.slack.render.rendered import RenderedMessage
from platforms.slack.text import SlackText

log = logging.getLogger(__name__)

WORKERS = 8
WRITES = (
    parser.MarkDone,
    parser.Snooze,
    parser.SetAway,
    parser.SetBack,
    parser.GiveKudos,
    parser.AdminAssign,
    parser.AdminWaive,
)
COMPLETION_SOURCE = "slack_command"


@dataclass(frozen=True)
class Outcome:
    """The reply, and whose App Home shows something that just changed."""

    message: RenderedMessage
    changed: tuple[Person, ...] = ()


def register(app: App, ctx: HandlerContext) -> None:
    """Add the ``/learn`` listener to ``app``."""
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="learn-command")
    lookups = UserLookups(ctx.clock)

    def handle_learn_command(
        ack: Ack, respond: Respond, command: dict[str, Any], client: WebClient
    ) -> None:
        user_id = str(command.get("user_id") or "")
        text = command.get("text")
        text = text if isinstance(text, str) else ""
        reply_within(
            lambda: answer(ctx, user_id, text, client=client, lookups=lookups),
            ack=ack,
            respond=respond,
            after=lambda outcome: _refresh_homes(client, ctx, outcome),
            pool=pool,
            budget=ctx.settings.ack_budget_seconds,
            ack_first=not app.process_before_response and changes_something(text),
        )

    app.command(registry.LEARN)(handle_learn_command)


def reply_within(
    work: Callable[[], Outcome],
    *,
    ack: Callable[..., Any],
    respond: Callable[..., Any],
    after: Callable[[Outcome], None],
    pool: ThreadPoolExecutor,
    budget: float,
    ack_first: bool = False,
) -> None:
    """Ack with ``work``'s answer if it is ready within ``budget`` seconds, else later.

    With ``ack_first`` the ack is empty and immediate, and the answer always follows
    through ``respond``.

    Args:
        work: Computes the reply; must not raise (``answer`` never does).
        ack: Bolt's ``ack``; called exactly once.
        respond: Bolt's ``respond``, used only when the answer is late.
        after: Follow-up work once the person has their answer (App Home refreshes).
        pool: Where ``work`` runs.
        budget: Seconds to wait before acking with "working on it".
        ack_first: Ack at once, empty; answer through ``respond``.
    """
    future = pool.submit(work)
    if ack_first:
        ack()
        future.add_done_callback(lambda done: _respond_late(respond, after, done))
        return
    try:
        outcome = future.result(timeout=budget)
    except FutureTimeout:
        _ack(ack, replies.working_on_it_message())
        future.add_done_callback(lambda done: _respond_late(respond, after, done))
        return
    _ack(ack, outcome.message)
    _follow_up(after, outcome)


def changes_something(text: str) -> bool:
    """Whether ``/learn text`` writes (and so acks first); unparsable text does not.

    ``admin reload`` writes too, but can take long: it keeps the ack budget, so the
    admin sees "working on it" rather than nothing.
    """
    try:
        command = parser.parse_command(text, chat=SlackText())
    except parser.UsageError:
        return False
    match command:
        case (
            parser.SetPrivacy(public=choice)
            | parser.ShowLeaderboard(join=choice)
            | parser.SetMentoring(available=choice)
        ):
            return choice is not None  # no word: only shows the setting
    return isinstance(command, WRITES)


def _ack(ack: Callable[..., Any], message: RenderedMessage) -> None:
    ack(text=message.text, blocks=message.blocks, response_type="ephemeral")


def _respond_late(
    respond: Callable[..., Any], after: Callable[[Outcome], None], done: Future[Outcome]
) -> None:
    try:
        outcome = done.result()
        respond(
            text=outcome.message.text,
            blocks=outcome.message.blocks,
            response_type="ephemeral",
            replace_original=False,
        )
    except Exception:  # this thread has nobody else to tell; the log is the record
        log.exception("could not deliver a /learn answer through respond")
        return
    _follow_up(after, outcome)


def _follow_up(after: Callable[[Outcome], None], outcome: Outcome) -> None:
    try:
        after(outcome)
    except Exception:  # the answer is given; a failed refresh must not turn into an error
        log.exception("follow-up after /learn failed")


def _refresh_homes(client: WebClient, ctx: HandlerContext, outcome: Outcome) -> None:
    for person in outcome.changed:
        refresh_home(client, ctx, person)


def answer(
    ctx: HandlerContext,
    slack_user_id: str,
    text: str,
    *,
    client: WebClient | None = None,
    lookups: UserLookups | None = None,
) -> Outcome:
    """The reply to ``/learn text`` typed by ``slack_user_id``; never raises.

    ``client`` (Bolt's) lets a refused admin command check the person's Slack workspace
    role with ``users.info`` first; without it the stored role is all there is.
    ``lookups`` remembers those answers (without it, each refusal asks again).
    """
    try:
        command = parser.parse_command(
            text,
            chat=SlackText(
                person_id_of=lambda user_id: _person_id_of(ctx, user_id),
                name_of=lambda user_id: _name_of(ctx, user_id),
            ),
        )
    except parser.UsageError as error:
        return Outcome(replies.usage_message(error))
    if isinstance(command, parser.ShowHelp):
        return Outcome(replies.help_message())
    try:
        try:
            with actions.unit_of_work(ctx.database) as session:
                return _run(ctx, session, slack_user_id, command, ask_slack=client is not None)
        except _AskSlack as ask:
            # Its own transaction, before the command's: Slack's answer and its audit
            # entry stand even if the admin command then fails and rolls back.
            assert client is not None
            if not _refresh_slack_role(ctx, client, ask.person_id, lookups):
                return Outcome(replies.admin_only_message())
            with actions.unit_of_work(ctx.database) as session:
                return _run(ctx, session, slack_user_id, command, ask_slack=False)
    except actions.AmbiguousItem as error:
        return Outcome(replies.ambiguous_message(error.text, error.candidates))
    except ValidationFailed as error:
        return Outcome(replies.validation_failed_message(error.problems))
    except LearnbotError as error:
        return Outcome(replies.refused_message(str(error)))
    except Exception:
        log.exception("/learn %r from %s failed", text[:200], slack_user_id)
        return Outcome(replies.failed_message())


def _name_of(ctx: HandlerContext, slack_user_id: str) -> str | None:
    """The name learnbot has for a Slack user (a mention typed in a kudos reason is
    stored as "@Their Name"); None when learnbot does not know them."""
    try:
        with ctx.database.session(dry_run=True) as session:
            person = slack_identity.person_by_slack_id(session, slack_user_id)
            return person.name if person is not None else None
    except SQLAlchemyError:  # the name is a nicety; Slack's own label will do
        log.warning("could not look up the name of %s for a kudos reason", slack_user_id)
        return None


class _AskSlack(Exception):
    """An admin command was refused to someone Slack may since have made a workspace
    admin: ask ``users.info`` (outside the command's transaction), then try again."""

    def __init__(self, person: Person) -> None:
        super().__init__(person.id)
        assert person.id is not None
        self.person_id = person.id  # the transaction rolls back: the row is not kept


def _person_id_of(ctx: HandlerContext, slack_user_id: str) -> int | None:
    """The person a mention names (the Slack listener resolves mentions for the parser)."""
    with ctx.database.session(dry_run=True) as session:
        person = slack_identity.person_by_slack_id(session, slack_user_id)
        return person.id if person is not None else None


def _run(
    ctx: HandlerContext,
    session: Session,
    slack_user_id: str,
    command: parser.Command,
    *,
    ask_slack: bool = False,
) -> Outcome:
    person = slack_identity.person_by_slack_id(session, slack_user_id)
    if person is not None and not person.active:
        person = None
    if parser.is_admin_command(command):
        admins = ctx.settings.admins
        if not _is_admin(session, person, slack_user_id, admins):
            if person is not None and ask_slack and slack_identity.slack_admins_count(admins):
                raise _AskSlack(person)
            return Outcome(replies.admin_only_message())
        return _run_admin(ctx, session, slack_user_id, person, command)
    if person is None:
        return Outcome(replies.unknown_person_message())
    return _run_personal(ctx, session, person, command)


def _is_admin(
    session: Session, person: Person | None, slack_user_id: str, admins: tuple[str, ...]
) -> bool:
    account = slack_identity.slack_account(session, person)
    return slack_identity.is_slack_admin(
        person,
        slack_user_id=slack_user_id,
        admins=admins,
        workspace_admin=account is not None and account.is_admin,
    )


def _refresh_slack_role(
    ctx: HandlerContext,
    client: WebClient,
    person_id: int,
    lookups: UserLookups | None,
) -> bool:
    """``_ask_slack_for_role`` in a transaction of its own, unless Slack answered (or
    failed) about the person lately: then its stored answer stands (or the refusal does)."""
    with ctx.database.session() as session:
        slack_id = slack_identity.slack_id_of(session, person_id)
    assert slack_id is not None
    recent = lookups.recent(slack_id) if lookups is not None else None
    if recent is not None:
        return recent
    with ctx.database.session() as session:
        person = session.get(Person, person_id)
        assert person is not None
        answered = _ask_slack_for_role(ctx, session, client, person)
    if lookups is not None:
        lookups.remember(slack_id, answered=answered)
    return answered


def _ask_slack_for_role(
    ctx: HandlerContext, session: Session, client: WebClient, person: Person
) -> bool:
    """Ask Slack (``users.info``) about ``person`` and store what it says, as a
    ``user_change`` would; False (and logged) when Slack could not answer."""
    slack_id = slack_identity.slack_id_of(session, person.id)
    assert slack_id is not None
    try:
        user = client.users_info(user=slack_id).get("user")
    except SlackApiError as error:
        log.warning(
            "users.info for %s failed (%s); the admin refusal stands",
            slack_id,
            error.response.get("error"),
        )
        return False
    except (OSError, ValueError) as error:  # connection trouble, or a body that is not JSON
        log.warning("users.info for %s failed (%r); the admin refusal stands", slack_id, error)
        return False
    if not isinstance(user, dict) or str(user.get("id") or "").upper() != (slack_id.upper()):
        log.warning("users.info for %s answered without that user", slack_id)
        return False
    change = members.update_member(
        session,
        slack_identity.member_from_slack(user),
        clock=ctx.clock,
        workspace_id=person.workspace_id,
        actor="slack:users.info",
    )
    if change is not None and change.changed:
        log.info("person %s refreshed from Slack: %s", person.id, sorted(change.changed))
    return True


def _run_personal(
    ctx: HandlerContext, session: Session, person: Person, command: parser.Command
) -> Outcome:
    clock = ctx.clock
    match command:
        case parser.ShowSummary():
            status = person_status(
                session, person.email, clock=clock, workspace_id=person.workspace_id
            )
            return Outcome(replies.summary_message(status))
        case parser.ShowDue():
            status = person_status(
                session, person.email, clock=clock, workspace_id=person.workspace_id
            )
            return Outcome(replies.due_message(status))
        case parser.MarkDone(item=item):
            assignment = actions.find_assignment(session, person=person, text=item)
            assert assignment.id is not None
            done = actions.complete_assignment(
                session,
                actor=person,
                assignment_id=assignment.id,
                clock=clock,
                source=COMPLETION_SOURCE,
            )
            message = replies.done_message(title=done.item_title, already=done.already_done)
            return Outcome(message, () if done.already_done else (person,))
        case parser.Snooze(item=item, days=days):
            assignment = actions.find_assignment(session, person=person, text=item)
            assert assignment.id is not None
            zone = actions.org_timezone(session)
            until = actions.snooze_assignment(
                session,
                actor=person,
                assignment_id=assignment.id,
                days=days,
                clock=clock,
                default_zone=zone,
            )
            message = replies.snooze_message(
                title=item_title(session, assignment.item_id),
                until=until,
                zone=person.timezone or zone,
            )
            return Outcome(message, (person,))
        case parser.SetAway(until=until):
            actions.set_away(session, person=person, until=until, clock=clock)
            return Outcome(replies.away_message(until), (person,))
        case parser.SetBack():
            was_away = actions.set_back(session, person=person, clock=clock)
            return Outcome(replies.back_message(was_away=was_away), (person,) if was_away else ())
        case parser.ShowPolicy():
            return Outcome(replies.policy_message(current_settings(session) or ProgramSettings()))
        case parser.ShowTeam():
            assert person.id is not None
            chain = identity.reporting_chain_ids(session, person.id)
            members = team_progress(session, person_ids=chain, clock=clock)
            return Outcome(replies.team_message(members))
        case parser.ShowCerts():
            return Outcome(my_certifications_message(session, person, clock=clock))
        case parser.SetPrivacy(public=public):
            changed = public is not None and certifications.set_public_posts(
                session, person=person, public=public, clock=clock
            )
            settings = current_settings(session) or ProgramSettings()
            message = cert_replies.privacy_message(
                public=person.public_posts,
                changed=changed,
                channel=settings.channels.recognition,
            )
            return Outcome(message)
        case parser.GiveKudos(recipient=recipient, reason=reason):
            given = kudos.give_kudos(
                session,
                giver=person,
                recipient=session.get(Person, recipient.person_id)
                if recipient.person_id is not None
                else None,
                reason=reason,
                clock=clock,
                settings=current_settings(session) or ProgramSettings(),
            )
            message = kudos_replies.kudos_given_message(
                recipient_name=given.recipient.name,
                recipient_slack_id=slack_identity.slack_id_of(session, given.recipient.id),
                channel=given.channel,
                left_today=given.left_today,
            )
            return Outcome(message)
        case parser.ShowLeaderboard():
            return Outcome(leaderboard_reply(ctx, session, person, command))
        case parser.SetMentoring():
            return Outcome(mentoring_reply(ctx, session, person, command))
    raise AssertionError(f"unhandled command {command!r}")


def my_certifications_message(session: Session, person: Person, *, clock: Clock) -> RenderedMessage:
    """``/learn certs``: the person's certifications, goals and privacy setting."""
    settings = current_settings(session) or ProgramSettings()
    standings = certifications.person_certifications(session, person, settings=settings)
    assert person.id is not None
    goals = certification_goals(
        session,
        person.id,
        held_ids={s.certification_id for s in standings if s.held and s.certification_id},
    )
    return cert_replies.certs_message(
        standings,
        today=local_date(clock.now(), certifications.zone_of(person, settings)),
        goals=goals,
        public=person.public_posts,
        channel=settings.channels.recognition,
    )


def _run_admin(
    ctx: HandlerContext,
    session: Session,
    slack_user_id: str,
    admin: Person | None,
    command: parser.Command,
) -> Outcome:
    clock = ctx.clock
    actor = admin.email if admin is not None else f"slack:{slack_user_id}"
    match command:
        case parser.AdminReport():
            return Outcome(replies.report_message(completion_report(session, clock=clock)))
        case parser.AdminReload():
            path = ctx.settings.programs_file
            if not path:
                return Outcome(replies.reload_not_configured_message())
            loaded = load_curriculum(path)
            changes = apply_config(session, loaded, clock=clock, actor=actor)
            message = replies.reload_message(
                source=loaded.source, summary=changes.summary(), changed=bool(changes)
            )
            return Outcome(message)
        case parser.AdminAssign(email=email, item=item, due=due):
            person = person_by_email(session, email)
            assignment = actions.assign_item(
                session, actor_label=actor, person=person, item_key=item, due=due, clock=clock
            )
            message = replies.assign_message(
                name=person.name,
                email=person.email,
                title=item_title(session, assignment.item_id),
                due=assignment.due_date,
            )
            return Outcome(message, (person,))
        case parser.AdminWaive(email=email, item=item, reason=reason):
            person = person_by_email(session, email)
            assignment = actions.waive_item(
                session,
                admin=admin,
                actor_label=actor,
                person=person,
                item_key=item,
                reason=reason,
                clock=clock,
            )
            message = replies.waive_message(
                name=person.name,
                email=person.email,
                title=item_title(session, assignment.item_id),
                reason=assignment.waived_reason or reason,
            )
            return Outcome(message, (person,))
    raise AssertionError(f"unhandled admin command {command!r}")
