"""Block Kit for an alert notice: pure (notice in, blocks out), within Slack's limits.

Limits (https://api.slack.com/reference/block-kit/blocks): 50 blocks a message, 3,000 characters in a section's
text, 150 in a header, 75 in a button's text, 2,000 in a button's value, 255 in an action or block id.
"""

from __future__ import annotations

import json
from typing import Any

from integrations.destination import AlertNotice, SuspectNotice

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_REASONS = 2
CAUSED = "caused"
UNRELATED = "unrelated"
#: action ids of the two buttons; ``interaction.parse`` maps them back to verdicts
ACTIONS = {f"verdict_{CAUSED}": CAUSED, f"verdict_{UNRELATED}": UNRELATED}
SEVERITY_MARK = {"critical": ":red_circle:", "error": ":large_orange_circle:", "warning": ":large_yellow_circle:"}


def escape(text: str) -> str:
    """Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def link(url: str, label: str) -> str:
    # a link label may not hold "|" or ">", and the URL no "|"
    return f"<{url.replace('|', '%7C')}|{escape(label).replace('|', '¦')}>"


def _date(moment_epoch: int, fallback: str) -> str:
    # Slack renders it in the reader's time zone; ``{ago}`` keeps "12 minutes ago" current without edits
    return f"<!date^{moment_epoch}^{{date_short_pretty}} {{time}} ({{ago}})|{fallback}>"


def text_fallback(notice: AlertNotice) -> str:
    """The notification text (shown where blocks are not: push notifications, search)."""
    state = "Resolved" if notice.status == "resolved" else notice.severity.capitalize()
    top = f"; top suspect: {escape(notice.suspects[0].summary)}" if notice.suspects else "; no change stands out"
    return clip(f"{state}: {escape(notice.title)} on {escape(notice.service or 'unmapped')}{top}", MAX_SECTION)


def build(notice: AlertNotice) -> list[dict[str, Any]]:
    """The message's blocks: header, the alert's facts, the top suspects with their buttons (or "no change
    stands out"), a link to all suspects."""
    mark = ":white_check_mark:" if notice.status == "resolved" else SEVERITY_MARK.get(notice.severity, ":bell:")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(notice.title or "Alert", MAX_HEADER)}},
        _section(_facts(notice, mark)),
        {"type": "divider"},
    ]
    if notice.suspects:
        for suspect in notice.suspects:
            blocks.extend(_suspect(notice, suspect))
    else:
        blocks.append(_section("*No change stands out.* Nothing in the correlation window scored high enough."))
    more = f"All {notice.suspect_count} suspects" if notice.suspect_count else "The alert's timeline"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link(notice.suspects_url, more)}]})
    return blocks[:MAX_BLOCKS]


def _facts(notice: AlertNotice, mark: str) -> str:
    started = _date(int(notice.started_at.timestamp()), notice.started_at.strftime("%Y-%m-%d %H:%M UTC"))
    lines = [
        f"{mark} *{escape(notice.severity)}* · `{escape(notice.service or 'unmapped')}` · started {started}",
    ]
    if notice.status == "resolved" and notice.resolved_at:
        minutes = max(0, int((notice.resolved_at - notice.started_at).total_seconds() // 60))
        lines.append(f":white_check_mark: *Resolved* after {minutes} min")
    lines.append(link(notice.url, "Open the alert"))
    return "\n".join(lines)


def _suspect(notice: AlertNotice, s: SuspectNotice) -> list[dict[str, Any]]:
    path = " → ".join(s.path) if len(s.path) > 1 else "same service"
    lines = [
        f"*{s.rank}. {link(s.url, clip(s.summary, 300))}*",
        f"`{escape(s.service)}` · {escape(path)} · {_when(s.minutes_before)} · score {s.score:.2f}",
        *(f"• {escape(clip(r, 300))}" for r in s.reasons[:MAX_REASONS]),
    ]
    out: list[dict[str, Any]] = [_section("\n".join(lines))]
    if s.verdict:
        word = "caused" if s.verdict == CAUSED else "unrelated"
        who = f" by {escape(s.verdict_by)}" if s.verdict_by else ""
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Marked {word}{who}"}]})
    value = json.dumps({"alert": notice.alert_id, "change": s.change_id}, separators=(",", ":"))
    out.append(
        {
            "type": "actions",
            "block_id": f"suspect-{s.change_id}",
            "elements": [
                _button("Caused it", f"verdict_{CAUSED}", value, "primary"),
                _button("Unrelated", f"verdict_{UNRELATED}", value, None),
            ],
        }
    )
    return out


def _button(text: str, action_id: str, value: str, style: str | None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, MAX_BUTTON_TEXT)},
        "action_id": action_id,
        "value": value[:MAX_BUTTON_VALUE],
    }
    if style:
        button["style"] = style
    return button


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION)}}


def _when(minutes: float) -> str:
    """ "7 min before the alert" (a change inside the clock-skew allowance may come just after it)."""
    side = "before" if minutes >= 0 else "after"
    minutes = abs(minutes)
    amount = f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
    return f"{amount} {side} the alert"
