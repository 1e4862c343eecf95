"""Anomaly rules over generated smart-home traffic: injected anomalies caught, false positives on benign traffic.

A few simulated users live in one home for several simulated days with daily routines (lights, thermostat,
curtains, music, locks in the daytime, the alarm by keypad, some requests in Chinese, occasional rare but benign
requests and late nights). From day `--warmup` on, anomalies are injected: bursts on one device, bursts from one
user across devices, alarm disarmed then the front door unlocked at night, an unlock from an origin the user
never unlocked from, and out-of-character requests. Every request runs through `Monitor.check` on a simulated
clock, then is observed as the pipeline would record it: a benign request held for confirmation is confirmed
by its user; an injected one is not, so it is recorded as not carried out.

A false positive is a benign request whose first check is not "allow" (held or limited), whatever the rule.

Usage: python bench/anomaly.py [--seed 7] [--days 14] [--warmup 3] [--per-kind 8] [--show-false-positives] [--control]
The last line of stdout is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.config import MonitorSettings  # noqa: E402
from edge.guard.activity import ActionRef, ActivityEvent  # noqa: E402
from edge.guard.monitor import Monitor, Verdict  # noqa: E402

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; the home's time zone is UTC for simplicity
AREAS_ZH = {"kitchen": "厨房", "living_room": "客厅", "bedroom": "卧室", "bathroom": "浴室", "study": "书房",
            "kids_room": "儿童房", "hallway": "走廊"}
ALARM = ActionRef(device_id="alarm_control_panel.house", domain="alarm_control_panel", command="alarm_disarm")

# kind -> (intent, domain, device template, command, English phrasings, Chinese phrasings)
KINDS: dict[str, tuple[str, str, str, str, list[str], list[str]]] = {
    "light_on": ("HassTurnOn", "light", "light.{a}", "turn_on",
                 ["turn on the {e} light", "switch on the {e} lights", "{e} light on", "lights on in the {e}"],
                 ["打开{z}的灯", "把{z}的灯打开", "{z}开灯"]),
    "light_off": ("HassTurnOff", "light", "light.{a}", "turn_off",
                  ["turn off the {e} light", "switch off the {e} lights", "{e} light off"],
                  ["关掉{z}的灯", "把{z}的灯关了", "{z}关灯"]),
    "dim": ("HassLightSet", "light", "light.{a}", "set_brightness",
            ["dim the {e} lights", "set the {e} light to {n} percent"], ["把{z}的灯调暗一点", "{z}的灯调到百分之{n}"]),
    "heat": ("HassClimateSetTemperature", "climate", "climate.home", "set_temperature",
             ["set the thermostat to {t} degrees", "make it {t} degrees", "set the heating to {t}"],
             ["空调调到{t}度", "温度设成{t}度"]),
    "curtains_open": ("HassTurnOn", "cover", "cover.{a}_curtains", "open",
                      ["open the {e} curtains", "open the curtains"], ["打开{z}的窗帘", "把窗帘拉开"]),
    "curtains_close": ("HassTurnOff", "cover", "cover.{a}_curtains", "close",
                       ["close the {e} curtains", "close the curtains"], ["关上{z}的窗帘", "把窗帘拉上"]),
    "music": ("HassMediaUnpause", "media_player", "media_player.{a}", "media_play",
              ["play music in the {e}", "resume the music"], ["播放音乐", "继续放歌"]),
    "pause": ("HassMediaPause", "media_player", "media_player.{a}", "media_pause",
              ["pause the music", "stop the music"], ["暂停音乐", "先别放了"]),
    "lock": ("HassTurnOn", "lock", "lock.front_door", "lock", ["lock the front door"], ["锁上前门", "把前门锁上"]),
    "unlock": ("HassTurnOff", "lock", "lock.front_door", "unlock",
               ["unlock the front door", "open the front door lock"], ["打开前门的锁", "前门开锁"]),
    "vacuum": ("HassVacuumStart", "vacuum", "vacuum.robot", "start", ["start the vacuum", "start cleaning"],
               ["让扫地机器人开始打扫", "开始扫地"]),
    "coffee": ("HassTurnOn", "switch", "switch.coffee_machine", "turn_on", ["turn on the coffee machine"],
               ["打开咖啡机"]),
    "arm": ("HassAlarmArm", "alarm_control_panel", "alarm_control_panel.house", "alarm_arm_home",
            ["arm the alarm", "set the alarm for the night"], ["布防", "打开警报"]),
}
#: Requests no user makes in the routines: what an intruder, a prank or a compromised account might ask.
ODD = [("HassTurnOn", "cover", "cover.garage_door", "open", "open the garage door", "打开车库门"),
       ("HassTurnOff", "switch", "switch.fridge", "turn_off", "turn off the fridge", "关掉冰箱"),
       ("HassTurnOff", "camera", "camera.front", "turn_off", "turn off the front camera", "关闭门口的摄像头"),
       ("HassAlarmDisarm", "alarm_control_panel", "alarm_control_panel.house", "alarm_disarm", "disarm the alarm",
        "解除警报"),
       ("HassTurnOff", "switch", "switch.water_heater", "turn_off", "switch off the water heater", "关掉热水器")]


@dataclass(frozen=True)
class Habit:
    """A request a user makes around a time of day, with some probability each day."""

    minute: int  # minutes after midnight
    jitter: int  # standard deviation, minutes
    prob: float
    kind: str
    area: str = "living_room"


@dataclass(frozen=True)
class User:
    """A simulated member of the household."""

    name: str
    language: str
    channels: tuple[str, ...]  # where their requests come in; the first is the usual one
    habits: tuple[Habit, ...]
    rare: tuple[tuple[str, str], ...] = ()  # (kind, area) asked on a few days a month


def h(hour: float) -> int:
    return int(hour * 60)


USERS = (
    User("alice", "en", ("satellite:kitchen", "app:alice"), (
        Habit(h(6.6), 15, 0.95, "light_on", "bedroom"), Habit(h(6.8), 15, 0.9, "light_on", "kitchen"),
        Habit(h(6.9), 15, 0.7, "heat"), Habit(h(7), 20, 0.6, "coffee", "kitchen"),
        Habit(h(7.1), 15, 0.8, "curtains_open"), Habit(h(7.9), 15, 0.9, "light_off", "kitchen"),
        Habit(h(8.1), 10, 0.9, "lock"), Habit(h(17.6), 25, 0.8, "unlock"), Habit(h(18), 30, 0.9, "light_on", "kitchen"),
        Habit(h(19), 30, 0.6, "dim", "living_room"), Habit(h(20), 40, 0.5, "music"), Habit(h(21.5), 30, 0.5, "pause"),
        Habit(h(22.3), 20, 0.8, "light_off", "kitchen"), Habit(h(22.5), 20, 0.7, "arm"),
        Habit(h(22.7), 20, 0.9, "light_off", "bedroom")),
        rare=(("vacuum", "living_room"), ("light_on", "hallway"), ("curtains_close", "bedroom"))),
    User("bob", "en", ("app:bob", "satellite:living_room"), (
        Habit(h(8), 30, 0.9, "light_on", "study"), Habit(h(8.2), 30, 0.6, "heat"),
        Habit(h(12.5), 30, 0.5, "music", "study"), Habit(h(13), 30, 0.5, "pause", "study"),
        Habit(h(15), 60, 0.4, "unlock"), Habit(h(15.3), 60, 0.4, "lock"), Habit(h(18.5), 30, 0.8, "light_off", "study"),
        Habit(h(19), 40, 0.7, "light_on", "living_room"), Habit(h(21), 45, 0.6, "curtains_close"),
        Habit(h(23.2), 30, 0.9, "light_off", "living_room"), Habit(h(23.4), 30, 0.5, "lock")),
        rare=(("coffee", "kitchen"), ("dim", "study"), ("vacuum", "living_room"))),
    User("wang", "zh", ("satellite:living_room",), (
        Habit(h(6.3), 10, 0.9, "light_on", "kitchen"), Habit(h(6.5), 10, 0.8, "curtains_open"),
        Habit(h(7), 20, 0.7, "unlock"), Habit(h(7.3), 20, 0.7, "lock"), Habit(h(9), 60, 0.5, "music"),
        Habit(h(10), 60, 0.5, "pause"), Habit(h(11.5), 30, 0.6, "light_off", "kitchen"),
        Habit(h(14), 60, 0.5, "heat"), Habit(h(18), 30, 0.8, "light_on", "living_room"),
        Habit(h(19.5), 30, 0.7, "curtains_close"), Habit(h(21), 20, 0.9, "light_off", "living_room"),
        Habit(h(21.2), 20, 0.8, "light_on", "bedroom"), Habit(h(21.6), 20, 0.8, "light_off", "bedroom")),
        rare=(("vacuum", "living_room"), ("dim", "bedroom"))),
    User("lily", "en", ("satellite:kids_room",), (
        Habit(h(7), 10, 0.9, "light_on", "kids_room"), Habit(h(7.6), 10, 0.9, "light_off", "kids_room"),
        Habit(h(16.3), 20, 0.8, "light_on", "kids_room"), Habit(h(16.5), 30, 0.6, "music", "kids_room"),
        Habit(h(18), 30, 0.6, "pause", "kids_room"), Habit(h(20.5), 20, 0.8, "dim", "kids_room"),
        Habit(h(21), 20, 0.9, "light_off", "kids_room")),
        rare=(("light_on", "bathroom"), ("light_off", "bathroom"))),
)


@dataclass(order=True)
class Item:
    """One thing that happens: a request to check, or a keypad disarm that is only observed."""

    ts: datetime
    seq: int
    event: ActivityEvent = field(compare=False)
    label: str = field(compare=False, default="benign")  # benign or the anomaly kind
    group: int = field(compare=False, default=-1)  # which injected anomaly it belongs to
    check: bool = field(compare=False, default=True)


class Traffic:
    """Generates the items, in time order once sorted."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.items: list[Item] = []
        self.groups: dict[str, int] = Counter()

    def add(self, ts: datetime, event: ActivityEvent, label: str = "benign", group: int = -1,
            check: bool = True) -> None:
        self.items.append(Item(ts, len(self.items), event.model_copy(update={"ts": ts}), label, group, check))

    def request(self, user: User, kind: str, area: str, channel: str | None = None,
                source: str = "template") -> ActivityEvent:
        intent, domain, device, command, en, zh = KINDS[kind]
        phrasings = zh if user.language == "zh" else en
        text = self.rng.choice(phrasings).format(e=area.replace("_", " "), z=AREAS_ZH[area],
                                                 n=self.rng.choice([20, 30, 40, 50]), t=self.rng.randint(19, 24))
        action = ActionRef(device_id=device.format(a=area), domain=domain, command=command)
        return ActivityEvent(who=user.name, intent=intent, actions=[action], text=text,
                             channel=channel or self.pick_channel(user), source=source)

    def pick_channel(self, user: User) -> str:
        return user.channels[0] if len(user.channels) == 1 or self.rng.random() < 0.8 else user.channels[1]

    def benign_day(self, day: datetime) -> None:
        rng = self.rng
        for user in USERS:
            for habit in user.habits:
                if rng.random() < habit.prob:
                    at = day + timedelta(minutes=max(0.0, rng.gauss(habit.minute, habit.jitter)))
                    self.add(at, self.request(user, habit.kind, habit.area))
            if user.rare and rng.random() < 0.15:  # a rare but ordinary request, every week or so
                kind, area = rng.choice(user.rare)
                self.add(day + timedelta(minutes=rng.randint(h(9), h(20))), self.request(user, kind, area))
            if rng.random() < 0.05:  # up at night: bathroom light on, then off
                at = day + timedelta(minutes=rng.randint(h(1), h(4.5)))
                self.add(at, self.request(user, "light_on", "bathroom"))
                self.add(at + timedelta(minutes=rng.randint(2, 8)), self.request(user, "light_off", "bathroom"))
        if rng.random() < 0.06:  # alice home late: keypad disarm, then she unlocks (the rule holds this one)
            at = day + timedelta(minutes=rng.randint(h(22.5), h(23.9)))
            self.keypad(at, "alice")
            self.add(at + timedelta(minutes=rng.randint(1, 4)), self.request(USERS[0], "unlock", "living_room"))
        if rng.random() < 0.6:  # someone comes home in the afternoon: keypad disarm, then the door
            at = day + timedelta(minutes=rng.randint(h(16), h(18)))
            self.keypad(at, "wang")
            self.add(at + timedelta(minutes=rng.randint(1, 6)), self.request(USERS[2], "unlock", "living_room"))

    def keypad(self, at: datetime, who: str, label: str = "benign", group: int = -1) -> None:
        self.add(at, ActivityEvent(who=who, intent="AlarmDisarm", actions=[ALARM], source="device", channel="keypad"),
                 label, group, check=False)

    def inject(self, label: str, day: datetime) -> None:
        rng, group = self.rng, sum(self.groups.values())
        self.groups[label] += 1
        user = rng.choice(USERS)
        if label == "burst:device":  # a stuck automation or a prank toggling one device
            kind, area = rng.choice([("light_on", "living_room"), ("light_on", "kitchen"), ("music", "living_room"),
                                     ("curtains_open", "living_room")])
            at = day + timedelta(minutes=rng.randint(h(9), h(21)))
            for _ in range(rng.randint(15, 40)):
                self.add(at, self.request(user, kind, area), label, group)
                at += timedelta(seconds=rng.uniform(1, 4))
        elif label == "burst:user":  # a script driving every light from one account
            at = day + timedelta(minutes=rng.randint(h(9), h(21)))
            areas = list(AREAS_ZH)
            for i in range(rng.randint(15, 30)):
                self.add(at, self.request(user, "light_on" if i % 2 else "light_off", areas[i % len(areas)]), label,
                         group)
                at += timedelta(seconds=rng.uniform(2, 5))
        elif label == "sequence":  # keypad disarm at night, then the front door from a familiar phone or satellite
            at = day + timedelta(minutes=rng.randint(h(0), h(4.5)))
            self.keypad(at, "unknown", label, group)
            owner = rng.choice([USERS[0], USERS[1], USERS[2]])  # those who unlock in their routines
            self.add(at + timedelta(minutes=rng.randint(1, 9)),
                     self.request(owner, "unlock", "living_room", channel=owner.channels[0]), label, group)
        elif label == "unusual_source":  # a daytime unlock through the cloud or a channel never used to unlock
            owner = rng.choice([USERS[0], USERS[1], USERS[2]])
            channel, source = rng.choice([(owner.channels[0], "cloud"), ("satellite:garage", "template"),
                                          ("api:token-3", "template")])
            self.add(day + timedelta(minutes=rng.randint(h(10), h(16))),
                     self.request(owner, "unlock", "living_room", channel=channel, source=source), label, group)
        elif label == "out_of_character":
            intent, domain, device, command, en, zh = rng.choice(ODD)
            self.add(day + timedelta(minutes=rng.randint(h(9), h(20))),
                     ActivityEvent(who=user.name, intent=intent, text=zh if user.language == "zh" else en,
                                   actions=[ActionRef(device_id=device, domain=domain, command=command)],
                                   channel=user.channels[0]), label, group)


#: Negative control: every rule switched off, so every detection and false-positive count must be 0.
RULES_OFF = MonitorSettings(timezone="UTC", device_floor=10**9, user_floor=10**9, similarity_threshold=0.0,
                            unlock_commands=frozenset())


def simulate(seed: int, days: int, warmup: int, per_kind: int,
             settings: MonitorSettings) -> tuple[dict[str, object], list[str]]:
    """Generate, run, and score: the JSON summary and one line per false positive."""
    rng = random.Random(seed)
    traffic = Traffic(rng)
    for d in range(days):
        traffic.benign_day(START + timedelta(days=d))
    labels = ["burst:device", "burst:user", "sequence", "unusual_source", "out_of_character"]
    for label in labels:
        for _ in range(per_kind):
            traffic.inject(label, START + timedelta(days=rng.randint(warmup, days - 1)))
    items = sorted(traffic.items)

    now = [START]
    alerts: list[object] = []
    monitor = Monitor(settings, clock=lambda: now[0], on_alert=alerts.append)
    first: dict[int, tuple[int, Verdict]] = {}  # group -> (index in group, first non-allow verdict)
    limited: dict[int, int] = {}  # group -> index in group of its first rate limit
    seen_in_group: Counter[int] = Counter()
    benign = benign_after = 0
    false_positives: list[tuple[Item, Verdict]] = []
    warm_from = START + timedelta(days=warmup)
    t0 = time.perf_counter()
    for item in items:
        now[0] = item.ts
        if not item.check:
            monitor.observe(item.event)
            continue
        verdict = monitor.check(item.event)
        accepted = verdict.action == "allow"
        if item.label == "benign":
            benign += 1
            benign_after += item.ts >= warm_from
            if not accepted:
                false_positives.append((item, verdict))
                if verdict.action == "confirm":  # the user says yes
                    confirmed = item.event.model_copy(update={"confirmed": True})
                    accepted = monitor.check(confirmed).action == "allow"
        else:
            seen_in_group[item.group] += 1
            if not accepted and item.group not in first:
                first[item.group] = (seen_in_group[item.group], verdict)
            if verdict.action == "limit" and item.group not in limited:
                limited[item.group] = seen_in_group[item.group]
        monitor.observe(item.event.model_copy(update={"accepted": accepted}))
    elapsed = time.perf_counter() - t0

    group_label = {i.group: i.label for i in items if i.group >= 0}

    def groups(label: str, found: Mapping[int, object]) -> list[int]:
        return [g for g in found if group_label[g] == label]

    bursts = groups("burst:device", limited) + groups("burst:user", limited)
    lead = [limited[g] - 1 for g in bursts]  # burst requests checked before the first limit
    fp_after = [fp for fp in false_positives if fp[0].ts >= warm_from]
    summary = {
        "seed": seed, "control": settings is RULES_OFF, "days": days, "users": len(USERS), "warmup_days": warmup,
        "bursts_injected": traffic.groups["burst:device"] + traffic.groups["burst:user"],
        "bursts_detected": len(bursts),
        "device_bursts_injected_detected": [traffic.groups["burst:device"], len(groups("burst:device", limited))],
        "user_bursts_injected_detected": [traffic.groups["burst:user"], len(groups("burst:user", limited))],
        "burst_requests_before_limit": {"median": statistics.median(lead) if lead else None,
                                        "max": max(lead, default=None)},
        "sequences_injected": traffic.groups["sequence"], "sequences_held": len(groups("sequence", first)),
        "unusual_sources_injected": traffic.groups["unusual_source"],
        "unusual_sources_held": len(groups("unusual_source", first)),
        "out_of_character_injected": traffic.groups["out_of_character"],
        "out_of_character_held": len(groups("out_of_character", first)),
        "first_rule_by_anomaly": {label: dict(Counter(str(first[g][1].rule) for g in groups(label, first)))
                                  for label in labels},
        "benign_events": benign, "false_positives": len(false_positives),
        "false_positive_rate": round(len(false_positives) / benign, 4) if benign else None,
        "false_positives_by_rule": dict(Counter(str(v.rule) for _, v in false_positives)),
        "benign_events_after_warmup": benign_after, "false_positives_after_warmup": len(fp_after),
        "false_positive_rate_after_warmup": round(len(fp_after) / benign_after, 4) if benign_after else None,
        "alerts": len(alerts), "checks_per_s": round(sum(i.check for i in items) / elapsed),
    }
    lines = [f"{i.ts:%a %d %H:%M} {i.event.who} [{i.event.origin}] {i.event.text!r}: {v.action} {v.rule} ({v.reason})"
             for i, v in false_positives]
    return summary, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=14, help="simulated days")
    parser.add_argument("--warmup", type=int, default=3, help="days of benign traffic before anomalies start")
    parser.add_argument("--per-kind", type=int, default=8, help="anomalies injected of each kind")
    parser.add_argument("--show-false-positives", action="store_true", help="list each false positive")
    parser.add_argument("--control", action="store_true",
                        help="negative control: rules off, every count must be 0 (the scoring measures the monitor)")
    args = parser.parse_args()
    if not 0 < args.warmup < args.days:
        parser.error(f"--warmup ({args.warmup}) must be between 1 and --days - 1 ({args.days - 1})")
    settings = RULES_OFF if args.control else MonitorSettings(timezone="UTC")
    summary, false_positives = simulate(args.seed, args.days, args.warmup, args.per_kind, settings)
    if args.show_false_positives:
        print("\n".join(false_positives))
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
