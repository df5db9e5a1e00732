"""The Slack message of an alert notice: golden files for the usual shapes, and Slack's limits under abuse."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.slack import blocks
from tests.integrations.slack.notices import notice, suspect, without_suspects

GOLDEN = Path(__file__).parent / "golden"


def _golden(name: str, built: list[dict]) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(built, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name}: blocks differ from {path} (UPDATE_GOLDEN=1 rewrites it)"


def assert_within_slack_limits(built: list[dict]) -> None:
    assert len(built) <= blocks.MAX_BLOCKS
    for block in built:
        text = (block.get("text") or {}).get("text", "")
        if block["type"] == "section":
            assert len(text) <= blocks.MAX_SECTION
        if block["type"] == "header":
            assert len(text) <= blocks.MAX_HEADER
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= blocks.MAX_BUTTON_TEXT
                assert len(element["value"]) <= blocks.MAX_BUTTON_VALUE
                assert len(element["action_id"]) <= 255
        assert len(block.get("block_id", "")) <= 255


def test_an_alert_with_three_suspects_matches_its_golden_message():
    built = blocks.build(notice())
    _golden("three_suspects", built)
    assert_within_slack_limits(built)


def test_each_suspect_has_caused_it_and_unrelated_buttons_carrying_the_alert_and_the_change():
    actions = [b for b in blocks.build(notice()) if b["type"] == "actions"]
    assert len(actions) == 3
    first = actions[0]["elements"]
    assert [e["text"]["text"] for e in first] == ["Caused it", "Unrelated"]
    assert {json.dumps(json.loads(e["value"]), sort_keys=True) for e in first} == {'{"alert": 7, "change": 41}'}


def test_at_most_two_reasons_are_shown_per_suspect():
    text = blocks.build(notice())[3]["text"]["text"]
    assert "deployed 7 min before the alert" in text and "PAYMENTS_URL" in text
    assert "• x" not in text


def test_an_alert_with_no_standing_out_change_says_so_instead_of_listing_noise():
    built = blocks.build(without_suspects())
    _golden("no_change_stands_out", built)
    assert not [b for b in built if b["type"] == "actions"]
    assert "No change stands out" in json.dumps(built)


def test_a_resolved_alert_says_it_is_resolved_and_how_long_it_lasted():
    resolved = notice(status="resolved", resolved_at=datetime(2026, 11, 21, 10, 53, 0, tzinfo=UTC))
    built = blocks.build(resolved)
    _golden("resolved", built)
    assert "*Resolved* after 41 min" in built[1]["text"]["text"]
    assert blocks.text_fallback(resolved).startswith("Resolved: ")


def test_a_verdict_is_shown_with_who_gave_it():
    built = json.dumps(blocks.build(notice()))
    assert "Marked unrelated by @maria" in built


@pytest.mark.parametrize("size", [5_000, 100_000])
def test_oversized_titles_summaries_and_reasons_stay_within_slack_limits(size: int):
    huge = "é<&>*" * size
    many = tuple(suspect(i, 100 + i, summary=huge, reasons=(huge, huge), service=huge) for i in range(1, 40))
    built = blocks.build(notice(title=huge, service=huge, suspects=many))
    assert_within_slack_limits(built)
    assert built[-1]["type"] == "context" or len(built) == blocks.MAX_BLOCKS


def test_user_text_cannot_inject_slack_mentions_or_links():
    hostile = notice(title="<!here> down", suspects=(suspect(1, 41, summary="<!channel> see <https://evil|here>"),))
    built = blocks.build(hostile)
    # mrkdwn (sections, context, the notification text) would turn these into mentions; plain_text never does
    mrkdwn = [b["text"]["text"] for b in built if b.get("text", {}).get("type") == "mrkdwn"]
    mrkdwn += [e["text"] for b in built for e in b.get("elements", []) if e.get("type") == "mrkdwn"]
    text = "\n".join([*mrkdwn, blocks.text_fallback(hostile)])
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "<!here>" not in text and "&lt;!here&gt;" in text
