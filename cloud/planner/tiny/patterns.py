"""Request patterns of the tiny planner's generator: each makes (text, plan, composition tags) for a home."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Final

from cloud.planner.tiny import phrases as P
from cloud.planner.tiny.homes import Home, HomeDevice
from shared.plan import Plan, Tool

#: Domains a "turn everything off" request switches off.
OFF_DOMAINS: Final = ("light", "switch", "fan", "media_player", "climate")


class _Steps:
    """Builds a plan's steps with ids s1, s2, ... in order."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []

    def add(self, tool: str, args: dict[str, Any], after: list[str] | None = None) -> str:
        sid = f"s{len(self.steps) + 1}"
        self.steps.append({"id": sid, "tool": tool, "args": args, "after": after or []})
        return sid

    def plan(self) -> dict[str, Any]:
        return Plan.model_validate({"steps": self.steps}).model_dump()


@dataclass(frozen=True, slots=True)
class _Clause:
    text: str
    tool: str
    args: dict[str, Any]
    tag: str


def _zh(lang: str) -> bool:
    return lang.startswith("zh")


def _spoken(hd: HomeDevice, lang: str, *, short: bool = False) -> str:
    if short:  # the kind alone, when the sentence already names the room
        return hd.kind.zh if _zh(lang) else hd.kind.en.lower()
    return hd.name_zh if _zh(lang) else hd.name_en.lower()


def _value(rng: random.Random, kind: str | None, lang: str) -> tuple[Any, dict[str, str]]:
    if kind == "pct":
        n = rng.choice(range(5, 101, 5)) if rng.random() < 0.7 else rng.randint(1, 100)
        return n, {"n": str(n)}
    if kind == "temp":
        n = rng.randint(16, 30)
        return n, {"n": str(n)}
    if kind == "color":
        en, zh = rng.choice(P.COLORS)
        return en, {"c": zh if _zh(lang) else en}
    if kind == "hvac":
        en, zh = rng.choice(P.HVAC_MODES)
        return en, {"m": zh if _zh(lang) else en.replace("_", " ")}
    return None, {}


def _clause(rng: random.Random, hd: HomeDevice, lang: str, *, short: bool = False,
            keep: Callable[[P.Phrasing], bool] = lambda p: True) -> _Clause:
    choices = [p for p in P.ACTIONS[hd.device.domain] if keep(p)]
    phrasing = rng.choice(choices)
    value, fill = _value(rng, phrasing.values, lang)
    template = rng.choice(phrasing.zh if _zh(lang) else phrasing.en)
    text = template.format(x=_spoken(hd, lang, short=short), **fill)
    tool = f"{hd.device.domain}.{phrasing.tool}"
    args: dict[str, Any] = {"device_id": hd.device.device_id}
    if phrasing.arg is not None:
        args[phrasing.arg] = value
    return _Clause(text, tool, args, f"act:{tool}:{'zh' if _zh(lang) else 'en'}")


def actionable(home: Home) -> list[HomeDevice]:
    """Devices a plan can act on (not sensors)."""
    return [d for d in home.devices if d.device.domain in P.ACTIONS]


def _polite(rng: random.Random, text: str, lang: str, *, ask: bool = True) -> str:
    # `ask=False` for sentences that cannot follow "please"/"can you" (questions, "if ...").
    prefix = rng.choice(P.PREFIX_ZH if _zh(lang) else P.PREFIX_EN) if ask else ""
    suffixes = (P.SUFFIX_ZH if _zh(lang) else P.SUFFIX_EN) if ask else ("", "", "？" if _zh(lang) else "?")
    return f"{prefix}{text}{rng.choice(suffixes)}"


Made = tuple[str, dict[str, Any], list[str]] | None  # (text, plan, tags)


def _single(rng: random.Random, home: Home, lang: str) -> Made:
    hd = rng.choice(actionable(home))
    c = _clause(rng, hd, lang)
    b = _Steps()
    b.add(c.tool, c.args)
    kind = "set" if len(c.args) > 1 else "single"
    return _polite(rng, c.text, lang), b.plan(), [f"{kind}:{hd.device.domain}", c.tag]


def _area(rng: random.Random, home: Home, lang: str) -> Made:
    area = rng.choice(home.devices).area
    everything = rng.random() < 0.35
    if everything:
        targets = [d for d in home.where(area=area.key) if d.device.domain in OFF_DOMAINS]
        on = False
        x = f"{area.zh}的所有设备" if _zh(lang) else f"everything in the {area.en.lower()}"
    else:
        targets = home.where(area=area.key, domain="light")
        on = rng.random() < 0.5
        room = area.en.lower()
        x = f"{area.zh}的灯" if _zh(lang) else rng.choice((f"{room} lights", f"lights in the {room}"))
    if not targets:
        return None
    templates = (P.ON_ZH if _zh(lang) else P.ON_EN[:3]) if on else (P.OFF_ZH if _zh(lang) else P.OFF_EN)
    b = _Steps()
    for d in targets:
        b.add(f"{d.device.domain}.{'turn_on' if on else 'turn_off'}", {"device_id": d.device.device_id})
    return _polite(rng, rng.choice(templates).format(x=x), lang), b.plan(), ["area:all" if everything else "area:light"]


_QUERY_EN: dict[str, tuple[str, ...]] = {
    "temperature": ("what is the temperature in the {a}", "how warm is it in the {a}"),
    "humidity": ("what is the humidity in the {a}", "how humid is the {a}"),
    "motion": ("is there anyone in the {a}", "is there motion in the {a}"),
    "window": ("is the {a} window open",),
}
_QUERY_ZH: dict[str, tuple[str, ...]] = {
    "temperature": ("{a}的温度是多少", "{a}现在几度", "{a}多少度"), "humidity": ("{a}的湿度是多少", "{a}湿度多少"),
    "motion": ("{a}有人吗", "{a}有没有人"), "window": ("{a}的窗户开着吗",),
}
_STATE_EN: dict[str, tuple[str, ...]] = {
    "lock": ("is the {x} locked",), "cover": ("is the {x} open",), "vacuum": ("is the {x} cleaning",),
    "alarm_control_panel": ("is the {x} armed",),
}
_STATE_ZH: dict[str, tuple[str, ...]] = {
    "lock": ("{x}锁了吗",), "cover": ("{x}开着吗",), "vacuum": ("{x}在打扫吗",),
    "alarm_control_panel": ("{x}布防了吗",),
}


def _query(rng: random.Random, home: Home, lang: str) -> Made:
    hd = rng.choice(home.devices)
    cls = hd.device.device_class
    if hd.device.domain in ("sensor", "binary_sensor") and cls in _QUERY_EN:
        table = _QUERY_ZH if _zh(lang) else _QUERY_EN
        text = rng.choice(table[cls]).format(a=hd.area.zh if _zh(lang) else hd.area.en.lower())
        tag = f"query:{cls}"
    else:
        states = _STATE_ZH if _zh(lang) else _STATE_EN
        default: tuple[str, ...] = ("{x}开着吗", "{x}现在是什么状态") if _zh(lang) else (
            "is the {x} on", "what is the state of the {x}")
        text = rng.choice(states.get(hd.device.domain, default)).format(x=_spoken(hd, lang))
        tag = f"query:{hd.device.domain}"
    b = _Steps()
    b.add(Tool.GET_STATE.value, {"device_id": hd.device.device_id})
    return _polite(rng, text, lang, ask=False), b.plan(), [tag]


def _multi(rng: random.Random, home: Home, lang: str) -> Made:
    pool = actionable(home)
    if len(pool) < 2:
        return None
    chosen = rng.sample(pool, min(len(pool), rng.choice((2, 2, 2, 3))))
    clauses = [_clause(rng, hd, lang) for hd in chosen]
    b = _Steps()
    text = clauses[0].text
    prev = b.add(clauses[0].tool, clauses[0].args)
    for c in clauses[1:]:
        then = rng.random() < 0.4
        joiners = (P.THEN_ZH if then else P.AND_ZH) if _zh(lang) else (P.THEN_EN if then else P.AND_EN)
        text += rng.choice(joiners) + c.text
        prev = b.add(c.tool, c.args, [prev] if then else [])
    domains = sorted({hd.device.domain for hd in chosen})
    tags = [f"multi:{'+'.join(domains)}"] + [f"pair:{a}+{z}" for a, z in combinations(domains, 2)]
    return _polite(rng, text, lang), b.plan(), tags + [c.tag for c in clauses]


def _scene(rng: random.Random, home: Home, lang: str) -> Made:
    scene = rng.choice(list(P.SCENES))
    b = _Steps()
    for d in home.devices:
        dom = d.device.domain
        if dom == "lock" and scene in ("leave", "night", "lock_up"):
            b.add("lock.lock", {"device_id": d.device.device_id})
        elif (dom == "light" and scene in ("night", "lights_off", "lights_on")) or (
                dom in OFF_DOMAINS and scene in ("leave", "all_off")):
            b.add(f"{dom}.{'turn_on' if scene == 'lights_on' else 'turn_off'}", {"device_id": d.device.device_id})
    if not b.steps:
        return None
    en, zh = P.SCENES[scene]
    return _polite(rng, rng.choice(zh if _zh(lang) else en), lang), b.plan(), [f"scene:{scene}"]


_COND_EN = {
    ("temperature", "gt"): ("the {a} is above {n} degrees", "the {a} temperature is above {n}",
                            "it is warmer than {n} degrees in the {a}"),
    ("temperature", "lt"): ("the {a} is below {n} degrees", "the {a} temperature drops below {n}",
                            "it is colder than {n} degrees in the {a}"),
    ("humidity", "gt"): ("the humidity in the {a} is above {n}%", "the {a} humidity is over {n}%"),
    ("humidity", "lt"): ("the humidity in the {a} is below {n}%", "the {a} humidity drops below {n}%"),
    ("motion", "eq"): ("there is motion in the {a}", "someone is in the {a}"),
}
_COND_ZH = {
    ("temperature", "gt"): ("{a}超过{n}度", "{a}温度高于{n}度", "{a}温度超过{n}度"),
    ("temperature", "lt"): ("{a}低于{n}度", "{a}温度低于{n}度"),
    ("humidity", "gt"): ("{a}湿度超过{n}%", "{a}湿度高于{n}%"),
    ("humidity", "lt"): ("{a}湿度低于{n}%",),
    ("motion", "eq"): ("{a}有人", "{a}检测到有人"),
}
_IF_EN = ("if {c}, {act}", "when {c}, {act}", "if {c} {act}")
_IF_ZH = ("如果{c}就{act}", "如果{c}，{act}", "{c}的话{act}")
_NOTIFY_EN = (" and notify me", " and let me know", " and send me a notification")
_NOTIFY_ZH = ("并通知我", "并告诉我", "，然后通知我")


def _cond(rng: random.Random, home: Home, lang: str) -> Made:
    if rng.random() < 0.15:
        return _cond_lock(rng, home, lang)
    sensors = [d for d in home.devices if d.device.device_class in ("temperature", "humidity", "motion")]
    actors = actionable(home)
    if not sensors or not actors:
        return None
    sensor = rng.choice(sensors)
    cls = sensor.device.device_class or ""
    op = "eq" if cls == "motion" else rng.choice(("gt", "lt"))
    right: Any = "on" if cls == "motion" else (rng.randint(15, 32) if cls == "temperature" else rng.randint(3, 18) * 5)
    same = [d for d in actors if d.area.key == sensor.area.key]
    actor = rng.choice(same) if same and rng.random() < 0.6 else rng.choice(actors)
    short = actor.area.key == sensor.area.key and rng.random() < 0.7
    clause = _clause(rng, actor, lang, short=short)
    table = _COND_ZH if _zh(lang) else _COND_EN
    cond = rng.choice(table[(cls, op)]).format(a=sensor.area.zh if _zh(lang) else sensor.area.en.lower(), n=right)
    notify = rng.random() < 0.5
    tail = rng.choice(_NOTIFY_ZH if _zh(lang) else _NOTIFY_EN) if notify else ""
    text = rng.choice(_IF_ZH if _zh(lang) else _IF_EN).format(c=cond, act=clause.text) + tail
    b = _Steps()
    s1 = b.add(Tool.GET_STATE.value, {"device_id": sensor.device.device_id})
    s2 = b.add(Tool.CONDITION.value, {"left": f"${s1}.value", "op": op, "right": right}, [s1])
    b.add(clause.tool, clause.args, [s2])
    if notify:
        b.add(Tool.NOTIFY.value, {"message": cond}, [s2])
    return _polite(rng, text, lang, ask=False), b.plan(), [f"cond:{cls}>{actor.device.domain}", clause.tag]


def _cond_lock(rng: random.Random, home: Home, lang: str) -> Made:
    locks = home.where(domain="lock")
    if not locks:
        return None
    hd = rng.choice(locks)
    x = _spoken(hd, lang)
    text = rng.choice(("如果{x}没锁就锁上", "{x}没锁的话锁上它") if _zh(lang) else
                      ("if the {x} is unlocked, lock it", "lock the {x} if it is unlocked")).format(x=x)
    b = _Steps()
    s1 = b.add(Tool.GET_STATE.value, {"device_id": hd.device.device_id})
    s2 = b.add(Tool.CONDITION.value, {"left": f"${s1}.value", "op": "eq", "right": "unlocked"}, [s1])
    b.add("lock.lock", {"device_id": hd.device.device_id}, [s2])
    return _polite(rng, text, lang, ask=False), b.plan(), ["cond:lock>lock"]


def _timed(rng: random.Random, home: Home, lang: str) -> Made:
    seconds, d_en, d_zh = rng.choice(P.DURATIONS)
    d = d_zh if _zh(lang) else d_en
    b = _Steps()
    if rng.random() < 0.5:  # "turn on the fan for 10 minutes": on, wait, off
        pool = [hd for hd in home.devices if hd.device.domain in OFF_DOMAINS]
        if not pool:
            return None
        hd = rng.choice(pool)
        x = _spoken(hd, lang)
        forms = ("打开{x}{d}", "把{x}打开{d}", "开{d}{x}") if _zh(lang) else (
            "turn on the {x} for {d}", "switch the {x} on for {d}", "run the {x} for {d}")
        text = rng.choice(forms).format(x=x, d=d)
        s1 = b.add(f"{hd.device.domain}.turn_on", {"device_id": hd.device.device_id})
        s2 = b.add(Tool.WAIT.value, {"seconds": seconds}, [s1])
        b.add(f"{hd.device.domain}.turn_off", {"device_id": hd.device.device_id}, [s2])
        return _polite(rng, text, lang), b.plan(), [f"for:{hd.device.domain}"]
    hd = rng.choice(actionable(home))
    clause = _clause(rng, hd, lang)
    text = rng.choice(("{d}后{act}", "过{d}{act}") if _zh(lang) else ("in {d}, {act}", "{act} in {d}")).format(
        d=d, act=clause.text)
    s1 = b.add(Tool.WAIT.value, {"seconds": seconds})
    b.add(clause.tool, clause.args, [s1])
    return _polite(rng, text, lang), b.plan(), [f"delay:{hd.device.domain}", clause.tag]


def _notify(rng: random.Random, home: Home, lang: str) -> Made:
    message = rng.choice(P.MESSAGES_ZH if _zh(lang) else P.MESSAGES_EN)
    asks = ("通知我{m}", "发消息告诉我{m}") if _zh(lang) else ("notify me that {m}", "send me a message: {m}")
    ask = rng.choice(asks)
    b = _Steps()
    if rng.random() < 0.5:
        b.add(Tool.NOTIFY.value, {"message": message})
        return _polite(rng, ask.format(m=message), lang), b.plan(), ["notify:alone"]
    hd = rng.choice(actionable(home))
    clause = _clause(rng, hd, lang)
    s1 = b.add(clause.tool, clause.args)
    b.add(Tool.NOTIFY.value, {"message": message}, [s1])
    joiner = "，然后" if _zh(lang) else " and "
    text = clause.text + joiner + ask.format(m=message)
    return _polite(rng, text, lang), b.plan(), [f"notify:{hd.device.domain}", clause.tag]


Pattern = Callable[[random.Random, Home, str], Made]
#: Every pattern with its share of the data.
PATTERNS: Final[dict[str, tuple[Pattern, float]]] = {
    "single": (_single, 0.22), "area": (_area, 0.08), "query": (_query, 0.1), "multi": (_multi, 0.18),
    "scene": (_scene, 0.08), "cond": (_cond, 0.14), "timed": (_timed, 0.12), "notify": (_notify, 0.08),
}
#: The pattern that can make each kind of composition tag (used to aim at held-out compositions).
PATTERN_FOR_TAG: Final = {"pair": "multi", "for": "timed", "delay": "timed", "cond": "cond", "act": "single"}
