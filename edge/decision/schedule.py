"""Requests tied to a time or an event: "at one pm today start the vacuum", "明天早上七点开空调".

The intent model says what should happen; this says whether it should happen *now*. A command with a time or an
event attached is not executed on the spot: the edge has no scheduler, so such a request goes on to the cloud
planner (which writes `wait` and `condition` steps) instead of switching something at the wrong moment.
"""

from __future__ import annotations

import re

_HOUR_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
_CLOCK_EN = (
    rf"(?:(?:half|quarter|ten|five|twenty)\s(?:past|to)\s(?:\d{{1,2}}|{_HOUR_WORDS})\b(?:\s(?:am|pm|a m|p m))?"
    rf"|\d{{1,2}}(?::\d{{2}})?\s*(?:am|pm|a\.?\s?m\.?|p\.?\s?m\.?|o'?clock)\b|\d{{1,2}}:\d{{2}}\b"
    rf"|(?:{_HOUR_WORDS})(?:\s(?:thirty|fifteen|forty five|o'?clock))?(?:\s(?:am|pm|a m|p m))?\b"
    r"(?!\s(?:hundred|percent))"
    rf"|noon\b|midnight\b"
    rf"|sunset\b|sunrise\b|dawn\b|dusk\b)")
_EN = re.compile(
    rf"\b(?:(?:at|by|around|until|till)\s{_CLOCK_EN}"
    r"|(?:when|once|as soon as|before|after)\s(?:i|we|you|someone|somebody)\s(?:\w+\s)?"
    r"(?:arrive|arrives|get|gets|come|comes|leave|leaves|wake|wakes|go|goes|am|are|is)\b"
    r"|(?:in|for|after)\s(?:\d+|a|an|half an|a few|one|two|three|four|five|ten|fifteen|twenty|thirty|forty|"
    r"forty five|sixty|ninety)\s(?:more\s)?(?:minutes?|mins?|hours?|seconds?|secs?)\b"
    r"|every\s(?:day|morning|night|evening|afternoon|hour|weekday|weekend|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday)\b|daily\b|tomorrow\b|tonight\b|on\sweekdays\b|on\sweekends\b"
    r"|on\s(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?\b)")
_ZH_NUM = r"(?:\d{1,2}|[一二两三四五六七八九十]{1,3})"
_ZH = re.compile(
    rf"(?:(?:今天|明天|后天|每天|今晚|明晚|工作日|周末|早上|上午|中午|下午|傍晚|晚上|凌晨|半夜)\s*{_ZH_NUM}\s*[点點:：]"
    rf"|{_ZH_NUM}\s*[点點]\s*(?:半|整|一刻|三刻|{_ZH_NUM}\s*分)"
    rf"|(?:{_ZH_NUM}|半|几)\s*(?:分钟|个?小时|个?钟头|秒钟?)\s*(?:后|以后|之后|内)"
    r"|(?:等|当|在)?我(?:到家|回家|回来|出门|离开|起床|睡觉|下班)(?:的时候|以后|之后|后|时|前)"
    r"|每天|每晚|每周|明天|今晚|明晚|天黑(?:以后|之后|后|时)|日落|日出|工作日|周末)")


def schedule_of(text: str, language: str) -> str | None:
    """The words that tie `text` to a time or an event, or None for "do it now"."""
    pattern = _EN if language.lower().startswith("en") else _ZH
    match = pattern.search(text if pattern is _ZH else text.casefold())
    return match.group(0).strip() if match else None


def without(text: str, when: str, language: str) -> str:
    """`text` with the schedule words taken out, so the stages read the command itself."""
    folded = text if not language.lower().startswith("en") else text.casefold()
    start = folded.find(when)
    if start < 0:
        return text
    rest = text[:start] + " " + text[start + len(when):]
    return re.sub(r"\s+", " ", rest).strip(" ,，") or text


_RELATIVE = re.compile(r"^(?:in|for|after)\s|(?:分钟|小时|钟头|秒钟?)\s*(?:后|以后|之后|内)$")


def is_relative(when: str) -> bool:
    """'in ten minutes', 'for 10 minutes', '五分钟后': a delay the planner can write as a `wait` step.

    Clock times and events ("at seven pm", "when i get home") need a scheduler the cloud planner does not have
    yet, so the edge answers those itself instead of letting a plan run now.
    """
    return bool(_RELATIVE.search(when))
