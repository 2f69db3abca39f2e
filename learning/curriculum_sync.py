"""Apply a validated configuration file to the database, in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlmodel import Session

from learning import audit
from learning.certifications import AwardTally, award_qualifiers
from learning.clock import Clock
from learning.curriculum import LoadedConfig
from learning.enrollment import LearningPath
from learning.enrollment_schedule import mark_for_enrollment, people_due
from learning.paths import EnrollmentSummary, enroll, load_paths
from models import (
    Assignment,
    Certification,
    CertificationRequirement,
    ConfigSnapshot,
    Item,
    ItemPrerequisite,
    Program,
    Tier,
    TierItem,
)


@dataclass
class Changes:
    """Keys added, changed and removed in one section."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def describe(self, noun: str) -> str:
        parts = [
            f"{len(keys)} {label}" + (f" ({', '.join(sorted(keys))})" if keys else "")
            for label, keys in (
                ("added", self.added),
                ("changed", self.changed),
                ("removed", self.removed),
            )
        ]
        return f"{noun}: " + ", ".join(parts)


@dataclass
class ConfigChanges:
    """What loading a configuration file changed (or would change, in a dry run)."""

    items: Changes = field(default_factory=Changes)
    programs: Changes = field(default_factory=Changes)
    certifications: Changes = field(default_factory=Changes)
    settings_changed: bool = False
    enrollment: EnrollmentSummary = field(default_factory=EnrollmentSummary)
    # Certifications added or changed, awarded to people who already qualify.
    awards: AwardTally = field(default_factory=AwardTally)
    marked: int = 0  # active people whose path or calendar changed: to enroll again
    enrollment_deferred: bool = False  # marked only; the enrollment job runs after commit

    def __bool__(self) -> bool:
        return bool(
            self.items
            or self.programs
            or self.certifications
            or self.settings_changed
            or self.enrollment.people_changed
            or self.awards.awarded
        )

    def summary(self, *, dry_run: bool = False) -> str:
        lines = [
            self.items.describe("items"),
            self.programs.describe("programs"),
            self.certifications.describe("certifications"),
            "settings (cadence, calendar, ladder, channels): "
            + ("changed" if self.settings_changed else "unchanged"),
            *(
                [
                    f"enrollment: {self.marked} people to bring up to date, in batches "
                    "after this change is committed"
                ]
                if self.enrollment_deferred
                else [str(self.enrollment), *self.enrollment.redate_lines(dry_run=dry_run)]
            ),
        ]
        if self.awards.awarded:
            lines.append(
                "certifications awarded to people who already qualify: " + self.awards.describe()
            )
        return "\n".join(lines)


def apply_config(
    session: Session,
    loaded: LoadedConfig,
    *,
    clock: Clock,
    actor: str = "cli",
    enroll_now: bool = True,
) -> ConfigChanges:
    """Make the database match ``loaded``; mark and re-enroll everyone it affects.

    Removed items, tiers, programs and certifications are retired (``active`` false),
    never deleted, so completion history stays. Nothing is committed here.

    Affected are the active people of every role whose path changed (tiers, items,
    offsets, requirement, prerequisites), and everyone when the calendar or the
    organisation's time zone changed: they are marked for enrollment
    (``learning.enrollment_schedule``) in this transaction. With ``enroll_now`` they are
    enrolled here too (a dry run shows everything); without, the caller commits and then
    runs the enrollment job, which enrolls them in short transactions.
    """
    config = loaded.config
    changes = ConfigChanges()
    paths_before = load_paths(session)
    items = _sync_items(session, loaded, changes.items)
    _sync_programs(session, loaded, items, changes.programs)
    requalify = _sync_certifications(session, loaded, items, changes.certifications)

    settings = config.settings()
    settings_json = settings.model_dump(mode="json")
    latest = session.scalars(
        select(ConfigSnapshot).order_by(ConfigSnapshot.id.desc()).limit(1)  # type: ignore[union-attr]
    ).first()
    changes.settings_changed = latest is None or latest.settings != settings_json
    if latest is not None and any(
        latest.settings.get(part) != settings_json[part]
        for part in ("escalation", "calendar", "cadence")
    ):
        # The escalation job's bookmarks were computed under the old ladder, working
        # days or send time; a step may now come sooner, so every item is looked at again.
        session.execute(
            update(Assignment)
            .where(
                or_(
                    Assignment.ladder_next_on.is_not(None),  # type: ignore[union-attr]
                    Assignment.ladder_wait_until.is_not(None),  # type: ignore[union-attr]
                )
            )
            .values(ladder_next_on=None, ladder_next_due=None, ladder_wait_until=None)
        )
    if changes.settings_changed or (latest is not None and latest.sha256 != loaded.sha256):
        session.add(
            ConfigSnapshot(
                loaded_at=clock.now(),
                source=loaded.source,
                sha256=loaded.sha256,
                settings=settings_json,
            )
        )
    session.flush()
    changes.marked = _mark_affected(session, paths_before, latest, settings_json)
    if enroll_now:
        due = people_due(session, now=clock.now(), default_zone=settings.organisation.timezone)
        changes.enrollment = enroll(session, clock=clock, settings=settings, person_ids=due)
    else:
        changes.enrollment_deferred = True
    if requalify:
        changes.awards = award_qualifiers(
            session, certification_ids=requalify, clock=clock, settings=settings
        )
    if changes:
        audit.record(
            session,
            clock=clock,
            actor=actor,
            action="config.load",
            subject=loaded.source,
            details={"summary": changes.summary(), "sha256": loaded.sha256},
        )
    return changes


def _mark_affected(
    session: Session,
    before: dict[str, LearningPath],
    latest: ConfigSnapshot | None,
    settings_json: dict[str, Any],
) -> int:
    """Mark the people this load affects for enrollment; return how many."""
    if latest is None or _dates_rules_changed(latest.settings, settings_json):
        return mark_for_enrollment(session)  # every due date may move
    after = load_paths(session)
    changed = {role for role in before.keys() | after.keys() if before.get(role) != after.get(role)}
    return mark_for_enrollment(session, roles=changed)


def _dates_rules_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Working days, holidays or the default time zone (due dates count in them) changed."""
    return bool(
        old.get("calendar") != new["calendar"]
        or (old.get("organisation") or {}).get("timezone") != new["organisation"]["timezone"]
    )


def _sync_items(session: Session, loaded: LoadedConfig, changes: Changes) -> dict[str, Item]:
    config = loaded.config
    existing = {item.key: item for item in session.scalars(select(Item))}
    for key, spec in config.items.items():
        item = existing.get(key)
        values: dict[str, Any] = {
            "title": spec.title,
            "url": spec.url,
            "method": spec.method,
            "minutes": spec.minutes,
            "active": True,
        }
        if item is None:
            item = Item(key=key, **values)
            session.add(item)
            existing[key] = item
            changes.added.append(key)
        elif any(getattr(item, name) != value for name, value in values.items()):
            if not item.active:
                changes.added.append(key)
            else:
                changes.changed.append(key)
            for name, value in values.items():
                setattr(item, name, value)
    for key, item in existing.items():
        if key not in config.items and item.active:
            item.active = False
            changes.removed.append(key)
    session.flush()

    current = {
        (a, b)
        for a, b in session.execute(
            select(ItemPrerequisite.item_id, ItemPrerequisite.requires_item_id)
        )
    }
    wanted = {
        (existing[key].id, existing[needed].id)
        for key, spec in config.items.items()
        for needed in spec.requires
    }
    by_id = {item.id: key for key, item in existing.items()}
    for pair in current - wanted:
        session.execute(
            delete(ItemPrerequisite).where(
                ItemPrerequisite.item_id == pair[0], ItemPrerequisite.requires_item_id == pair[1]
            )
        )
    for item_id, needed_id in wanted - current:
        session.add(ItemPrerequisite(item_id=item_id, requires_item_id=needed_id))  # type: ignore[arg-type]
    for item_id, _ in current ^ wanted:
        key = by_id[item_id]
        if key in config.items and key not in changes.added and key not in changes.changed:
            changes.changed.append(key)
    return existing


def _sync_programs(
    session: Session, loaded: LoadedConfig, items: dict[str, Item], changes: Changes
) -> None:
    config = loaded.config
    programs = {program.role: program for program in session.scalars(select(Program))}
    for role, spec in config.programs.items():
        program = programs.get(role)
        changed = False
        if program is None:
            program = Program(role=role, title=spec.title)
            session.add(program)
            session.flush()
            changes.added.append(role)
        elif program.title != spec.title or not program.active:
            program.title, program.active = spec.title, True
            changed = True
        tiers = {
            tier.key: tier
            for tier in session.scalars(select(Tier).where(Tier.program_id == program.id))
        }
        for position, tier_spec in enumerate(spec.tiers):
            tier = tiers.get(tier_spec.key)
            if tier is None:
                tier = Tier(program_id=program.id, key=tier_spec.key)  # type: ignore[arg-type, call-arg]
                session.add(tier)
                changed = True
            values = {
                "title": tier_spec.title,
                "start_day": tier_spec.starts_on_day,
                "position": position,
                "active": True,
            }
            if any(getattr(tier, name, None) != value for name, value in values.items()):
                changed = True
                for name, value in values.items():
                    setattr(tier, name, value)
            session.flush()
            current = {
                row.item_id: row
                for row in session.scalars(select(TierItem).where(TierItem.tier_id == tier.id))
            }
            wanted = {}
            for entry_position, entry in enumerate(tier_spec.items):
                wanted[items[entry.item].id] = (entry_position, entry.required, entry.due)
            for item_id, row in current.items():
                if item_id not in wanted:
                    session.delete(row)
                    changed = True
                elif (row.position, row.required, row.due_working_days) != wanted[item_id]:
                    row.position, row.required, row.due_working_days = wanted[item_id]  # type: ignore[assignment]
                    changed = True
            for item_id, (entry_position, required, due) in wanted.items():  # type: ignore[assignment]
                if item_id not in current:
                    session.add(
                        TierItem(
                            tier_id=tier.id,  # type: ignore[arg-type]
                            item_id=item_id,  # type: ignore[arg-type]
                            position=entry_position,
                            required=required,
                            due_working_days=due,
                        )
                    )
                    changed = True
        for key, tier in tiers.items():
            if tier.active and key not in {t.key for t in spec.tiers}:
                tier.active = False
                session.execute(delete(TierItem).where(TierItem.tier_id == tier.id))
                changed = True
        if changed and role not in changes.added:
            changes.changed.append(role)
    for role, program in programs.items():
        if role not in config.programs and program.active:
            program.active = False
            changes.removed.append(role)
    session.flush()


def _sync_certifications(
    session: Session, loaded: LoadedConfig, items: dict[str, Item], changes: Changes
) -> set[int]:
    """Make the certifications match the file.

    Returns:
        The ids of certifications someone may now qualify for: added, brought back, or
        with different requirements (items, minimum scores, self-reported scores).
    """
    config = loaded.config
    certifications = {cert.key: cert for cert in session.scalars(select(Certification))}
    requalify: set[int] = set()
    for key, spec in config.certifications.items():
        cert = certifications.get(key)
        values: dict[str, Any] = {
            "title": spec.title,
            "valid_months": spec.valid_for.months,
            "valid_days": spec.valid_for.days,
            "recertify_window_months": spec.recertify_window.months,
            "recertify_window_days": spec.recertify_window.days,
            "grace_months": spec.grace.months,
            "grace_days": spec.grace.days,
            "active": True,
        }
        changed = False
        if cert is None:
            cert = Certification(key=key, **values)
            session.add(cert)
            session.flush()
            changes.added.append(key)
            requalify.add(cert.id)  # type: ignore[arg-type]
        elif any(getattr(cert, name) != value for name, value in values.items()):
            if not cert.active:
                requalify.add(cert.id)  # type: ignore[arg-type]
            for name, value in values.items():
                setattr(cert, name, value)
            changed = True
        current = {
            row.item_id: row
            for row in session.scalars(
                select(CertificationRequirement).where(
                    CertificationRequirement.certification_id == cert.id
                )
            )
        }
        wanted = {
            items[req.item].id: (req.min_score, req.self_reported_scores)
            for req in config.certification_items(key)
        }
        for item_id, row in current.items():
            if item_id not in wanted:
                session.delete(row)
                changed = True
                requalify.add(cert.id)  # type: ignore[arg-type]
            elif (row.min_score, row.self_reported_scores) != wanted[item_id]:
                row.min_score, row.self_reported_scores = wanted[item_id]  # type: ignore[assignment]
                changed = True
                requalify.add(cert.id)  # type: ignore[arg-type]
        for item_id, (min_score, self_reported) in wanted.items():  # type: ignore[assignment]
            if item_id not in current:
                requalify.add(cert.id)  # type: ignore[arg-type]
                session.add(
                    CertificationRequirement(
                        certification_id=cert.id,  # type: ignore[arg-type]
                        item_id=item_id,
                        min_score=min_score,
                        self_reported_scores=self_reported,
                    )
                )
                changed = True
        if changed and key not in changes.added:
            changes.changed.append(key)
    for key, cert in certifications.items():
        if key not in config.certifications and cert.active:
            cert.active = False
            changes.removed.append(key)
    session.flush()
    return requalify
