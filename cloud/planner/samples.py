"""Varied planner requests for the validity test and benchmark: homes over several sites, scoped callers.

Homes of 0-14 devices of every domain spread over one to three sites; callers of the acting roles see all sites
or only some; requests in English and Chinese, from a single action to conditionals and scenes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cloud.fleet import DOMAIN_ACTIONS, Caller, Device
from shared.plan import PlanRequest

SITES = ("home", "cabin", "office")
AREAS = ("kitchen", "bedroom", "living room", "hall", "garage", "卧室", "客厅")
TEXTS = ("turn off the {a} light", "lock up", "when I leave, turn everything off and lock up",
         "如果卧室超过26度就开空调并通知我", "set the {a} to 22 degrees", "把{a}的灯打开", "start the vacuum",
         "turn on the fan for 10 minutes", "is the front door locked?", "close the {a} blinds",
         "if the {a} is warmer than 25, switch on the fan and tell me", "good night", "打开{a}的窗帘然后通知我")


@dataclass(frozen=True)
class Case:
    """One request: who asks, the whole home, what they may see of it, and what they say."""

    caller: Caller
    home: list[Device]
    visible: list[Device]
    request: PlanRequest


def fleet(rng: random.Random, index: int) -> list[Device]:
    """A home of 0-14 devices of assorted domains, spread over one to three sites."""
    sites = SITES[: rng.randint(1, 3)]
    devices = []
    for i in range(rng.choice((0, 2, 5, 9, 14))):
        domain, area, site = rng.choice(sorted(DOMAIN_ACTIONS)), rng.choice(AREAS), rng.choice(sites)
        device_class = rng.choice((None, "garage", "blind")) if domain == "cover" else None
        devices.append(Device(f"{domain}.h{index}_{i}", f"edge-{index}-{site}", site, domain, f"{area} {domain}",
                              area, device_class))
    return devices


def cases(count: int, seed: int = 0) -> list[Case]:
    """`count` requests over eight homes from callers of acting roles scoped to some sites (or all)."""
    rng = random.Random(seed)
    homes = [fleet(rng, index) for index in range(8)]
    out = []
    for n in range(count):
        devices = homes[n % len(homes)]
        scope = rng.choice((None, frozenset({"home"}), frozenset({"cabin", "office"}), frozenset({"office"})))
        caller = Caller(f"caller-{n}", rng.choice(("admin", "operator", "edge")), scope)
        visible = [d for d in devices if caller.sees(d.site)]
        text = rng.choice(TEXTS).format(a=rng.choice(AREAS))
        language = "zh" if any("\u4e00" <= c <= "\u9fff" for c in text) else "en"
        out.append(Case(caller, devices, visible, PlanRequest(text=text, edge_id="edge-x", language=language)))
    return out
