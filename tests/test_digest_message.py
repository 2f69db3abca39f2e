"""The daily digest DM: Block Kit rendering, its fallback text, and the limits validator."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learning.digest import Digest, DigestItem
from platforms.slack.render import ids
from platforms.slack.render.digest import due_phrase, duration, render_digest
from platforms.slack.render.limits import block_kit_problems
from platforms.slack.render.mrkdwn import Mrkdwn
from platforms.slack.render.render import render_outbox
from platforms.slack.render.rendered import RenderedMessage

# Friday 29 November 2024 in the person's time zone.
TODAY = date(2024, 11, 29)
SECURITY_URL = "https://lms.example.com/security?x=1&y=2"


def item(
    assignment_id: int,
    title: str,
    *,
    section: str = "due_soon",
    due: date = TODAY,
    url: str | None = None,
    method: str = "online",
    minutes: int = 30,
    required: bool = True,
    overdue: int = 0,
) -> DigestItem:
    return DigestItem(
        assignment_id=assignment_id,
        key=f"item-{assignment_id}",
        title=title,
        url=url,
        method=method,
        minutes=minutes,
        required=required,
        due_date=due,
        section=section,  # type: ignore[arg-type]
        overdue_working_days=overdue,
    )


def digest(*items: DigestItem, first_name: str = "Ana", today: date = TODAY) -> Digest:
    return Digest(person_id=7, first_name=first_name, local_date=today, items=items)


SAMPLE = digest(
    item(
        11,
        "Security basics",
        section="overdue",
        due=date(2024, 11, 26),
        url=SECURITY_URL,
        method="online",
        minutes=45,
        overdue=3,
    ),
    item(12, "Fire drill", section="overdue", due=date(2024, 11, 28), method="classroom",
         minutes=120, overdue=1),
    item(13, "Fire safety", due=date(2024, 11, 30), method="reading", minutes=90),
    item(14, "Data protection", due=date(2024, 12, 3), method="video", minutes=20,
         url="https://videos.example.com/dp"),
    item(15, "Shadow a colleague", section="suggested", due=date(2025, 1, 6),
         method="shadowing", minutes=240, required=False),
)  # fmt: skip


def by_block_id(message: RenderedMessage) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in message.blocks if "block_id" in b}


def section_texts(message: RenderedMessage) -> list[str]:
    return [b["text"]["text"] for b in message.blocks if b["type"] == "section"]


def item_ids(message: RenderedMessage) -> list[int]:
    prefix = ids.ITEM_BLOCK_PREFIX
    return [
        int(b["block_id"].removeprefix(prefix))
        for b in message.blocks
        if b.get("block_id", "").startswith(prefix) and b["type"] == "section"
    ]


def more_lines(message: RenderedMessage) -> list[str]:
    return [e["text"] for b in message.blocks if b["type"] == "context" for e in b["elements"]]


# --- content -------------------------------------------------------------------------


def test_greeting_summary_and_section_labels_in_planner_order() -> None:
    message = render_digest(SAMPLE)

    assert message.blocks[0]["type"] == "header"
    assert message.blocks[0]["text"]["text"] == "Hi Ana"
    texts = section_texts(message)
    assert texts[0] == "Here's your learning for today: 2 overdue, 2 due soon, 1 suggested."
    labels = [t for t in texts if t.startswith("*")]
    assert labels == ["*Overdue*", "*Due soon*", "*Suggested for you*"]
    assert item_ids(message) == [11, 12, 13, 14, 15]
    # Each label comes right before the first item of its section.
    order = [t.split("\n")[0] for t in texts[1:]]
    assert order == [
        "*Overdue*",
        f"<{SECURITY_URL.replace('&', '&amp;')}|Security basics>",
        "Fire drill",
        "*Due soon*",
        "Fire safety",
        "<https://videos.example.com/dp|Data protection>",
        "*Suggested for you*",
        "Shadow a colleague",
    ]
    assert more_lines(message) == []


def test_each_item_shows_link_method_minutes_kind_and_due_date() -> None:
    blocks = by_block_id(render_digest(SAMPLE))

    assert blocks["item:11"]["text"]["text"] == (
        "<https://lms.example.com/security?x=1&amp;y=2|Security basics>\n"
        "Online course · 45 min · Required · *3 working days overdue*"
    )
    assert blocks["item:12"]["text"]["text"] == (
        "Fire drill\nClassroom · 2 h · Required · *1 working day overdue*"
    )
    assert blocks["item:13"]["text"]["text"] == (
        "Fire safety\nReading · 1 h 30 min · Required · due tomorrow"
    )
    assert blocks["item:14"]["text"]["text"] == (
        "<https://videos.example.com/dp|Data protection>\nVideo · 20 min · Required · due Tue 3 Dec"
    )
    assert blocks["item:15"]["text"]["text"] == (
        "Shadow a colleague\nShadowing · 4 h · Suggested"  # offered: no deadline, ever
    )


def test_actions_carry_stable_action_ids_and_assignment_ids() -> None:
    blocks = by_block_id(render_digest(SAMPLE))

    done, snooze, open_, extend = blocks["item:11:actions"]["elements"]  # 11 is overdue
    assert done["type"] == "button"
    assert (done["action_id"], done["value"], done["style"]) == (ids.DIGEST_DONE, "11", "primary")
    assert done["text"]["text"] == "Done"
    assert snooze["type"] == "static_select"
    assert snooze["action_id"] == ids.DIGEST_SNOOZE == "digest_snooze"
    assert snooze["placeholder"]["text"] == "Snooze…"
    assert [(o["text"]["text"], o["value"]) for o in snooze["options"]] == [
        ("1 day", "11:1d"),
        ("3 days", "11:3d"),
        ("1 week", "11:1w"),
    ]
    assert open_["type"] == "button"
    assert (open_["action_id"], open_["url"]) == (ids.DIGEST_OPEN, SECURITY_URL)
    assert (extend["action_id"], extend["value"]) == (ids.DIGEST_REQUEST_EXTENSION, "11")
    assert extend["text"]["text"] == "Request extension"

    # No url, no Open button.
    without_url = blocks["item:13:actions"]["elements"]
    assert [e["action_id"] for e in without_url] == [ids.DIGEST_DONE, ids.DIGEST_SNOOZE]
    assert without_url[0]["value"] == "13"
    assert [o["value"] for o in without_url[1]["options"]] == ["13:1d", "13:3d", "13:1w"]


def test_ids_are_the_shipped_strings_and_values_parse_back() -> None:
    assert (ids.DIGEST_DONE, ids.DIGEST_SNOOZE, ids.DIGEST_OPEN) == (
        "digest_done",
        "digest_snooze",
        "digest_open",
    )
    assert ids.SNOOZE_CHOICES == (("1d", "1 day"), ("3d", "3 days"), ("1w", "1 week"))
    assert ids.parse_snooze_value(ids.snooze_value(42, ids.SNOOZE_3D)) == (42, "3d")
    assert ids.parse_assignment_value(ids.assignment_value(42)) == 42
    with pytest.raises(ValueError):
        ids.parse_snooze_value("42:2y")
    with pytest.raises(ValueError):
        ids.snooze_value(42, "2y")


def test_fallback_text_is_plain_and_lists_titles() -> None:
    message = render_digest(SAMPLE)

    assert message.text == (
        "Hi Ana. 2 overdue, 2 due soon, 1 suggested: "
        "Security basics (3 working days overdue); Fire drill (1 working day overdue); "
        "Fire safety (due tomorrow); Data protection (due Tue 3 Dec); "
        "Shadow a colleague."  # a suggestion has no deadline
    )
    assert "<" not in message.text


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(45, "45 min"), (60, "1 h"), (120, "2 h"), (90, "1 h 30 min"), (0, "")],
)
def test_duration(minutes: int, expected: str) -> None:
    assert duration(minutes) == expected


def test_due_phrases_in_the_persons_terms() -> None:
    def phrase(due: date, overdue: int = 0, today: date = TODAY) -> str:
        return due_phrase(item(1, "x", due=due, overdue=overdue), today)

    assert phrase(TODAY) == "due today"
    assert phrase(TODAY + timedelta(days=1)) == "due tomorrow"
    # Monday is the next working day after Friday, but not "tomorrow".
    assert phrase(date(2024, 12, 2)) == "due Mon 2 Dec"
    assert phrase(date(2024, 12, 31), today=date(2024, 12, 30)) == "due tomorrow"
    assert phrase(date(2025, 1, 1), today=date(2024, 12, 30)) == "due Wed 1 Jan 2025"
    assert phrase(date(2024, 11, 26), overdue=3) == "3 working days overdue"
    assert phrase(date(2024, 11, 28), overdue=1) == "1 working day overdue"
    # Past the date but within grace of working days (a weekend): no count to show.
    assert phrase(date(2024, 11, 30), today=date(2024, 12, 1)) == "was due Sat 30 Nov"


def test_titles_are_escaped_for_mrkdwn() -> None:
    message = render_digest(
        digest(
            item(1, "R&D <intro>"),
            item(2, "R&D <intro>", url="https://x.example/a?b=1&c=<2>|3"),
        )
    )
    blocks = by_block_id(message)

    assert blocks["item:1"]["text"]["text"].startswith("R&amp;D &lt;intro&gt;\n")
    assert blocks["item:2"]["text"]["text"].startswith(
        "<https://x.example/a?b=1&amp;c=&lt;2&gt;%7C3|R&amp;D &lt;intro&gt;>\n"
    )
    assert "R&amp;D &lt;intro&gt; (due today)" in message.text
    assert "<intro>" not in json.dumps(message.blocks) + message.text
    # The button gets the url as it is: it is JSON, not mrkdwn.
    assert blocks["item:2:actions"]["elements"][2]["url"] == "https://x.example/a?b=1&c=<2>|3"


def test_overlong_titles_are_cut_with_an_ellipsis() -> None:
    message = render_digest(digest(item(1, "A" * 300)))

    first_line = by_block_id(message)["item:1"]["text"]["text"].split("\n")[0]
    assert first_line == "A" * 199 + "…"
    assert block_kit_problems(message) == []


def test_empty_digest_is_refused() -> None:
    with pytest.raises(ValueError, match="no items"):
        render_digest(digest())


def test_repeated_assignment_is_refused() -> None:
    with pytest.raises(ValueError, match="repeats"):
        render_digest(digest(item(1, "a"), item(1, "a")))


# --- limits, whatever the input --------------------------------------------------------

NASTY = "&<>*_~|`"


def extreme_item(n: int) -> DigestItem:
    sections = ("overdue", "due_soon", "suggested")
    section = sections[min(n // 20, 2)]
    title = (f"{n} " + NASTY * 40)[:200]
    url = (f"https://lms.example.com/{n}?q=" + "&a=<b>|" * 100)[:500]
    return item(
        100_000 + n,
        title,
        section=section,
        due=TODAY + timedelta(days=n - 20),
        url=url if n % 3 else None,
        method=("online", "classroom", "reading", "video", "shadowing", "assessment")[n % 6],
        minutes=n * 7,
        required=section != "suggested",
        overdue=max(0, 20 - n) if section == "overdue" else 0,
    )


@pytest.mark.parametrize("max_items", [10, 1, 50])
def test_every_size_up_to_60_items_stays_within_slack_limits(max_items: int) -> None:
    with pytest.raises(ValueError):
        render_digest(digest(), max_items=max_items)
    for count in range(1, 61):
        items = tuple(extreme_item(n) for n in range(count))
        message = render_digest(
            digest(*items, first_name="Ana" * 100),
            home_url="https://slack.com/app_redirect?app=A1&tab=home",
            max_items=max_items,
        )

        assert block_kit_problems(message) == [], count
        assert 0 < len(message.text) <= 4000
        shown = item_ids(message)
        assert shown == [i.assignment_id for i in items[: len(shown)]]
        # Fewer only when another item (with a section label) would not fit in 50 blocks.
        assert len(shown) == min(count, max_items) or len(message.blocks) + 3 > 50
        hidden = count - len(shown)
        if hidden:
            assert more_lines(message) == [
                f"…and {hidden} more — see your "
                "<https://slack.com/app_redirect?app=A1&amp;tab=home|learnbot Home tab>"
            ]
            assert message.text.endswith(" more.")
        else:
            assert more_lines(message) == []


def test_more_line_without_home_url() -> None:
    items = tuple(item(n, f"Item {n}") for n in range(12))
    message = render_digest(digest(*items))

    assert more_lines(message) == ["…and 2 more — see your learnbot Home tab"]
    assert message.text.endswith("Item 9 (due today); and 2 more.")


@st.composite
def digests(draw: st.DrawFn) -> Digest:
    count = draw(st.integers(1, 60))
    assignment_ids = draw(
        st.lists(st.integers(1, 10**12), min_size=count, max_size=count, unique=True)
    )
    today = draw(st.dates(date(2020, 1, 1), date(2030, 12, 31)))
    items = []
    for assignment_id in assignment_ids:
        section = draw(st.sampled_from(["overdue", "due_soon", "suggested"]))
        items.append(
            item(
                assignment_id,
                draw(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(NASTY),
                             max_size=250)),
                section=section,
                due=today + timedelta(days=draw(st.integers(-400, 400))),
                url=draw(st.none() | st.text(min_size=1, max_size=3500)),
                method=draw(st.sampled_from(["online", "reading", "video", "webinar"])),
                minutes=draw(st.integers(0, 10_000)),
                required=draw(st.booleans()),
                overdue=draw(st.integers(0, 400)) if section == "overdue" else 0,
            )
        )  # fmt: skip
    return digest(*items, first_name=draw(st.text(max_size=300)), today=today)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    digests(),
    st.integers(1, 60),
    st.none() | st.text(min_size=1, max_size=3500),
)
def test_any_digest_renders_within_slack_limits(
    value: Digest, max_items: int, home_url: str | None
) -> None:
    message = render_digest(value, max_items=max_items, home_url=home_url)

    assert block_kit_problems(message) == []
    assert message.text.strip() and len(message.text) <= 4000
    assert "<" not in message.text and ">" not in message.text  # no accidental links/mentions
    shown = item_ids(message)
    assert shown == [i.assignment_id for i in value.items[: len(shown)]]
    assert len(shown) == min(len(value.items), max_items) or len(message.blocks) + 3 > 50
    hidden = len(value.items) - len(shown)
    assert bool(hidden) == bool(more_lines(message))
    if hidden:
        assert more_lines(message)[0].startswith(f"…and {hidden} more — see your ")


# --- the validator itself ---------------------------------------------------------------


def test_validator_catches_a_too_long_section() -> None:
    message = render_digest(SAMPLE)
    message.blocks[1]["text"]["text"] = "x" * 3001

    problems = block_kit_problems(message)
    assert any("block 1 (section): text has 3001 characters, limit 3000" in p for p in problems)
    assert any("slack_sdk" in p for p in problems)


def test_validator_catches_too_many_blocks_and_repeated_block_ids() -> None:
    message = render_digest(SAMPLE)
    blocks = message.blocks + [message.blocks[1]] * 40 + [message.blocks[4]]

    assert len(message.blocks) == 16

    problems = block_kit_problems(RenderedMessage(text=message.text, blocks=blocks))
    assert "57 blocks, limit 50" in problems
    assert "block 56 (section): block_id 'item:11' is not unique" in problems


def test_validator_catches_element_limits_and_empty_text() -> None:
    message = render_digest(SAMPLE)
    actions = by_block_id(message)["item:11:actions"]
    done, snooze, *_ = actions["elements"]
    done["text"]["text"] = "D" * 76
    snooze["options"][0]["value"] = "v" * 151
    snooze["action_id"] = ids.DIGEST_DONE

    problems = block_kit_problems(RenderedMessage(text=Mrkdwn(" "), blocks=message.blocks))
    assert "fallback text is empty" in problems
    assert "block 5 (actions) element 0: text has 76 characters, limit 75" in problems
    assert "block 5 (actions) element 1: option 0 value has 151 characters, limit 150" in problems
    assert "block 5 (actions): action_id 'digest_done' is not unique in the block" in problems


# --- outbox -----------------------------------------------------------------------------


def test_render_outbox_round_trips_a_digest_through_json() -> None:
    payload = json.loads(json.dumps({"digest": SAMPLE.to_json()}))

    assert Digest.from_json(payload["digest"]) == SAMPLE
    assert render_outbox("digest", payload) == render_digest(SAMPLE)


def test_digest_json_carries_every_field() -> None:
    # Items travel as rows under named columns; every field must make the round trip,
    # the ladder's facts included.
    data = SAMPLE.to_json()
    assert data["columns"] == list(DigestItem._fields)
    assert all(len(row) == len(DigestItem._fields) for row in data["items"])
    marked = SAMPLE.items[0]._replace(
        reminder=True,
        warned=True,
        next_notice_to="manager",
        next_notice_on=date(2024, 12, 2),
        extension_requested=True,
        mentor_offer=True,
    )
    again = Digest.from_json(json.loads(json.dumps(replace(SAMPLE, items=(marked,)).to_json())))
    assert again.items == (marked,)


def test_digests_stored_with_an_object_per_item_still_read() -> None:
    # Outbox rows written before items became rows must still render after an upgrade.
    item = SAMPLE.items[0]
    old_form = {
        "person_id": SAMPLE.person_id,
        "first_name": SAMPLE.first_name,
        "local_date": SAMPLE.local_date.isoformat(),
        "items": [
            {
                **item._asdict(),
                "due_date": item.due_date.isoformat(),
                "next_notice_on": None,
            }
        ],
    }
    assert Digest.from_json(old_form).items == (item,)


def test_an_item_offering_a_mentor_has_a_find_a_mentor_button_after_the_others() -> None:
    offered = SAMPLE.items[2]._replace(mentor_offer=True)  # 13: due soon, no url
    blocks = by_block_id(render_digest(digest(offered)))
    elements = blocks["item:13:actions"]["elements"]
    assert [e["action_id"] for e in elements] == [
        ids.DIGEST_DONE,
        ids.DIGEST_SNOOZE,
        ids.DIGEST_FIND_MENTOR,
    ]
    mentor = elements[2]
    assert (mentor["action_id"], mentor["value"]) == (ids.DIGEST_FIND_MENTOR, "13")
    assert mentor["text"]["text"] == "Find a mentor"
    assert ids.DIGEST_FIND_MENTOR == "digest_find_mentor"
    # Items without the offer have no such button.
    plain = by_block_id(render_digest(SAMPLE))
    assert all(
        e["action_id"] != ids.DIGEST_FIND_MENTOR
        for b in plain.values()
        for e in b.get("elements", [])
        if isinstance(e, dict) and "action_id" in e
    )


def test_digests_stored_before_the_mentor_offer_still_read_and_render() -> None:
    # Outbox rows written before "Find a mentor" have one column fewer.
    data = SAMPLE.to_json()
    old_columns = [c for c in data["columns"] if c != "mentor_offer"]
    cut = data["columns"].index("mentor_offer")
    old_form = {
        **data,
        "columns": old_columns,
        "items": [row[:cut] + row[cut + 1 :] for row in data["items"]],
    }
    payload = json.loads(json.dumps({"digest": old_form}))
    again = Digest.from_json(payload["digest"])
    assert again == SAMPLE and not any(item.mentor_offer for item in again.items)
    assert render_outbox("digest", payload) == render_digest(SAMPLE)


def test_render_outbox_text_kind_and_unknown_kinds() -> None:
    plain = render_outbox("text", {"text": "Welcome to learnbot"})
    assert plain == RenderedMessage(text=Mrkdwn("Welcome to learnbot"), blocks=[])
    blocks = render_digest(SAMPLE).blocks[:2]
    assert render_outbox("text", {"text": "hi", "blocks": blocks}).blocks == blocks

    with pytest.raises(ValueError, match="'nudge'"):
        render_outbox("nudge", {})
    with pytest.raises(ValueError):
        render_outbox("text", {"text": ""})


def test_a_new_due_date_is_told_once_with_its_reason() -> None:
    changed = item(1, "Secure coding", due=date(2024, 12, 3))._replace(due_changed="role")
    after = item(2, "Secure coding exam", due=date(2024, 12, 4))._replace(
        due_changed="prerequisite", due_changed_after="Secure coding"
    )
    later = item(3, "Incident response", section="rescheduled", due=date(2025, 1, 6))._replace(
        due_changed="curriculum"
    )
    message = render_digest(digest(changed, after, later))
    blocks = by_block_id(message)

    assert blocks["item:1"]["text"]["text"].endswith(
        "\n📅 New due date *Tue 3 Dec*: your role changed."
    )
    assert blocks["item:2"]["text"]["text"].endswith(
        "\n📅 New due date *Wed 4 Dec*: Secure coding is done."
    )
    assert blocks["item:3"]["text"]["text"].endswith(
        "\n📅 New due date *Mon 6 Jan 2025*: the program changed."
    )
    assert message.text.startswith("Hi Ana. 2 due soon, 1 rescheduled: ")
    assert "*New due dates*" in [b["text"]["text"] for b in message.blocks if b.get("text")]


def test_a_suggested_item_is_never_shown_as_due_or_was_due() -> None:
    past = item(1, "Shadow a colleague", section="suggested", required=False, due=date(2024, 11, 1))
    message = render_digest(digest(past))
    text = by_block_id(message)["item:1"]["text"]["text"]

    assert text == "Shadow a colleague\nOnline course · 30 min · Suggested"
    assert "due" not in message.text
