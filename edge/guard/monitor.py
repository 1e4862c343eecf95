"""Behaviour monitoring on the edge: command-rate bursts, sensitive sequences, and requests unlike a user's history.

Every decision is `observe`d as an ActivityEvent; before a plan runs, `check` says whether to go ahead ("allow"),
hold it for the user's confirmation ("confirm"), or refuse it for now ("limit"). Rules, strongest first:

- rate:device / rate:user: this minute's commands to a device (or from a user) above both a floor and
  mean + sigma * std of the rolling window (std at least sqrt(mean)) -> that device or user is limited for
  `limit_s`, and an alert goes out.
- sequence:disarm_then_unlock_at_night: an unlock at night within `sequence_window_s` of an alarm disarm.
- source:unusual_unlock: an unlock from an origin (input channel, edge or cloud) this user never unlocked from.
- similarity:user_history: a command unlike all of this user's recent requests, once there are enough of them.

Each firing goes to `on_alert`, except similarity holds (frequent, and harmless once confirmed) and requests
refused under a limit that already alerted. A request the user already confirmed passes the confirm rules,
never a limit. Only accepted events (carried out) teach the monitor what is normal, so a held request does not
pass on its second try. Time is the monitor's clock, not the event's `ts`, so a client's wrong clock cannot
open or dodge a window. Use from one event loop.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from edge.config import MonitorSettings
from edge.guard.activity import ActivityEvent
from edge.guard.similarity import History, Shape
from shared.envelope import utcnow

#: Wall-clock now, timezone-aware; injectable so tests and the bench move time by hand.
WallClock = Callable[[], datetime]
#: Receives every alert, e.g. to publish it on the edge's events channel.
AlertSink = Callable[["Alert"], None]


#: `who` when the satellite or app does not say who spoke: only per-device rules apply.
UNKNOWN = "unknown"


class Verdict(BaseModel):
    """What `check` decided: go ahead, ask the user first, or refuse for now."""

    model_config = ConfigDict(frozen=True)  # ALLOW is one shared instance

    action: Literal["allow", "confirm", "limit"]
    rule: str | None = Field(default=None, description="the rule that fired, e.g. 'rate:device'")
    reason: str = ""
    retry_after_s: float | None = Field(default=None, description="for 'limit': when the limit ends")


class Alert(BaseModel):
    """A rule firing, for the daemon to publish as an event."""

    model_config = ConfigDict(frozen=True)

    rule: str
    who: str
    subject: str = Field(description="what it is about: 'device:<id>', 'user:<id>'")
    trace_id: str
    reason: str
    ts: datetime
    count: int | None = None
    threshold: float | None = None


ALLOW = Verdict(action="allow")
SIMILARITY = "similarity:user_history"


class _Rate:
    """Per-bucket counts of one device or user over the rolling window."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def add(self, bucket: int, window: int) -> None:
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        for old in [b for b in self.counts if b < bucket - window]:
            del self.counts[old]

    def baseline(self, bucket: int, window: int) -> tuple[float, float]:
        """Mean and population std of the `window` buckets before `bucket`, empty buckets as zero."""
        past = [self.counts.get(b, 0) for b in range(bucket - window, bucket)]
        mean = sum(past) / window
        return mean, math.sqrt(sum((c - mean) ** 2 for c in past) / window)


class Monitor:
    """Observes activity and judges each new request against the rules in the module docstring."""

    def __init__(self, settings: MonitorSettings | None = None, *, clock: WallClock = utcnow,
                 on_alert: AlertSink | None = None) -> None:
        self._settings = settings or MonitorSettings()
        self._clock = clock
        self._on_alert = on_alert
        self._zone = ZoneInfo(self._settings.timezone) if self._settings.timezone else None
        self._rates: dict[str, _Rate] = {}
        self._limited: dict[str, float] = {}  # subject -> epoch seconds the limit ends
        self._disarms: deque[float] = deque()
        self._unlock_origins: dict[str, set[str]] = {}
        self._histories: dict[str, History] = {}

    @property
    def settings(self) -> MonitorSettings:
        """The settings in force."""
        return self._settings

    def observe(self, event: ActivityEvent) -> None:
        """Record a decision or command: it counts towards rates, and teaches what is normal if accepted."""
        s, now = self._settings, self._clock().timestamp()
        bucket = self._bucket(now)
        for subject in self._subjects(event):
            self._rates.setdefault(subject, _Rate()).add(bucket, s.window_buckets)
        if not event.accepted:
            return
        if event.commands & s.disarm_commands:
            self._forget_disarms(now)
            self._disarms.append(now)
        if event.commands & s.unlock_commands:
            self._unlock_origins.setdefault(event.who, set()).add(event.origin)
        if event.text:
            self._histories.setdefault(event.who, History(s.history_size)).add(Shape.of(event.text, event.tokens()))

    def check(self, request: ActivityEvent) -> Verdict:
        """Judge a request before it runs (it is not recorded: `observe` it once decided); may fire `on_alert`."""
        limited = self._check_rates(request)
        if limited is not None or request.confirmed or not request.actions:
            return limited or ALLOW
        fired = next(self._confirm_rules(request), None)
        if fired is None:
            return ALLOW
        rule, reason = fired
        if rule != SIMILARITY:  # a routine question to the user, kept in the decision record: alerts stay rare
            self._alert(rule, request, f"user:{request.who}", reason)
        return Verdict(action="confirm", rule=rule, reason=reason)

    def is_night(self, moment: datetime) -> bool:
        """Whether `moment` falls in the night hours, in the home's local time."""
        local = moment.astimezone(self._zone).time()
        start, end = self._settings.night_start, self._settings.night_end
        return start <= local < end if start <= end else local >= start or local < end

    def _check_rates(self, request: ActivityEvent) -> Verdict | None:
        """Every subject is tested (so a burst limits the device and the user together); the first limit wins."""
        s, now = self._settings, self._clock().timestamp()
        bucket, verdict = self._bucket(now), None
        for subject in self._subjects(request):
            until = self._limited.get(subject)
            if until is not None and until <= now:
                del self._limited[subject]
                until = None
            kind = subject.split(":", 1)[0]
            if until is None:
                rate = self._rates.get(subject) or _Rate()
                count = rate.counts.get(bucket, 0) + 1  # this request, not yet observed
                mean, std = rate.baseline(bucket, s.window_buckets)
                floor = s.device_floor if kind == "device" else s.user_floor
                # A count's own noise is about sqrt(mean) (Poisson): without it a perfectly steady device
                # (std 0) would be limited for one command above its usual rate.
                threshold = max(float(floor), mean + s.sigma * max(std, math.sqrt(mean)))
                if count <= threshold:
                    continue
                until = self._limited[subject] = now + s.limit_s
                self._alert(f"rate:{kind}", request, subject,
                            f"{count} commands this {s.bucket_s:g}s for {subject}, above {threshold:.1f} "
                            f"(mean {mean:.2f} + {s.sigma:g} sd {std:.2f}, floor {floor}); "
                            f"limited for {s.limit_s:g}s", count=count, threshold=threshold)
            verdict = verdict or Verdict(action="limit", rule=f"rate:{kind}", retry_after_s=round(until - now, 3),
                                         reason=f"too many commands for {subject}; try again in {until - now:.0f}s")
        return verdict

    def _confirm_rules(self, request: ActivityEvent) -> Iterator[tuple[str, str]]:
        """The confirm rules that fire, strongest first, as (rule, reason); lazy, so later ones cost nothing."""
        s, now = self._settings, self._clock()
        if request.commands & s.unlock_commands:
            self._forget_disarms(now.timestamp())
            if self._disarms and self.is_night(now):
                ago = now.timestamp() - self._disarms[-1]
                yield ("sequence:disarm_then_unlock_at_night",
                       f"an unlock at night {ago / 60:.0f} min after the alarm was disarmed")
            if request.origin not in self._unlock_origins.get(request.who, set()):
                yield "source:unusual_unlock", f"{request.who} has never unlocked from {request.origin} before"
        history = self._histories.get(request.who) if request.who != UNKNOWN else None  # no pooled "history"
        if request.text and history is not None and len(history) >= s.min_history:
            nearest = history.nearest(Shape.of(request.text, request.tokens()))
            if nearest < s.similarity_threshold:
                yield (SIMILARITY,
                       f"unlike {request.who}'s recent requests (nearest {nearest:.2f} < {s.similarity_threshold:g})")

    def _forget_disarms(self, now: float) -> None:
        while self._disarms and self._disarms[0] < now - self._settings.sequence_window_s:
            self._disarms.popleft()

    def _subjects(self, event: ActivityEvent) -> list[str]:
        """The rate keys an event counts towards: each device it commands, and its user if it commands any."""
        devices = [f"device:{d}" for d in event.device_ids]
        # Requests from no known user are a household's pooled traffic, not one person's rate.
        return [*devices, f"user:{event.who}"] if devices and event.who != UNKNOWN else devices

    def _bucket(self, epoch_s: float) -> int:
        return math.floor(epoch_s / self._settings.bucket_s)

    def _alert(self, rule: str, event: ActivityEvent, subject: str, reason: str, *, count: int | None = None,
               threshold: float | None = None) -> None:
        if self._on_alert is not None:
            self._on_alert(Alert(rule=rule, who=event.who, subject=subject, trace_id=event.trace_id, reason=reason,
                                 ts=self._clock(), count=count, threshold=threshold))
