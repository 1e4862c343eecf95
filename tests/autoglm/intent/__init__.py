"""Tests for autoglm.intent, with a tiny synthetic en/zh dataset the test modules share."""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

from shared.intent import INTENT_LABELS, Example, Span

_EN: dict[str, tuple[str, ...]] = {
    "HassTurnOn": ("turn on the {name}", "switch on the {area} {name}", "please turn the {name} in the {area} on"),
    "HassTurnOff": ("turn off the {name}", "switch off the {area} {name}", "shut off the {name} in the {area}"),
    "HassLightSet": ("set the {name} to {number}%", "make the {area} lights {color}", "change the {name} to {color}"),
    "HassLightSet+up": ("brighten the {name}", "make the {area} lights brighter", "turn up the {name} a bit"),
    "HassLightSet+down": ("dim the {name}", "make the {area} lights darker", "turn down the {name} a bit"),
    "HassClimateSetTemperature": ("set the {area} temperature to {number} degrees", "make it {number} degrees"),
    "HassClimateGetTemperature": ("what's the temperature in the {area}", "how warm is it in the {area}"),
    "HassGetState": ("is the {name} on", "is the {area} {name} open", "what's the status of the {name}"),
    "HassSetPosition": ("open the {name} to {number}%", "set the {area} blinds to {number} percent"),
    "HassVacuumStart": ("start the vacuum", "start vacuuming", "let the {name} start cleaning"),
    "HassVacuumReturnToBase": ("send the vacuum home", "{name} return to the dock", "vacuum go back to base"),
    "HassVacuumCleanArea": ("vacuum the {area}", "clean the {area} with the {name}"),
    "HassMediaPause": ("pause the music", "pause the {name}", "pause the tv in the {area}"),
    "HassMediaUnpause": ("resume playback", "resume the {name}", "unpause the music"),
    "HassMediaNext": ("next song", "skip this track on the {name}", "play the next track"),
    "HassMediaPrevious": ("previous track", "go back a song on the {name}", "play the previous song"),
    "HassSetVolume": ("set the volume to {number}", "set the {name} volume to {number}%"),
    "out_of_scope": ("set an alarm for {number} am", "remind me to buy milk", "what's the weather tomorrow",
                     "send an email to john", "tell me a joke", "order a pizza", "how is the traffic today"),
}
_ZH: dict[str, tuple[str, ...]] = {
    "HassTurnOn": ("打开{area}的{name}", "把{name}打开", "请打开{name}"),
    "HassTurnOff": ("关闭{name}", "把{area}的{name}关掉", "关掉{name}"),
    "HassLightSet": ("把{name}调到{number}%", "把{area}的灯调成{color}", "{name}亮度设为{number}"),
    "HassLightSet+up": ("把{name}调亮一点", "{area}的灯亮一些", "调亮{name}"),
    "HassLightSet+down": ("把{name}调暗一点", "{area}的灯暗一些", "调暗{name}"),
    "HassClimateSetTemperature": ("把{area}温度设为{number}度", "空调调到{number}度"),
    "HassClimateGetTemperature": ("{area}现在多少度", "{area}温度是多少"),
    "HassGetState": ("{name}开着吗", "{area}的{name}是开的吗"),
    "HassSetPosition": ("把{name}打开到{number}%", "{area}窗帘开到{number}%"),
    "HassVacuumStart": ("开始扫地", "让{name}开始打扫"),
    "HassVacuumReturnToBase": ("扫地机器人回去充电", "让{name}回充"),
    "HassVacuumCleanArea": ("打扫{area}", "让{name}清扫{area}"),
    "HassMediaPause": ("暂停音乐", "暂停{name}"),
    "HassMediaUnpause": ("继续播放", "继续播放{name}"),
    "HassMediaNext": ("下一首", "{name}切到下一首"),
    "HassMediaPrevious": ("上一首", "{name}播放上一首"),
    "HassSetVolume": ("音量调到{number}", "把{name}音量设为{number}"),
    "out_of_scope": ("明天天气怎么样", "给我讲个笑话", "设置一个早上{number}点的闹钟", "提醒我买牛奶", "帮我订外卖"),
}
_FILL: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "name": ("lamp", "ceiling light", "floor lamp", "fan", "heater", "tv", "speaker", "blinds", "curtains",
                 "coffee machine", "desk light", "robot"),
        "area": ("kitchen", "living room", "bedroom", "office", "bathroom", "garage", "hallway"),
        "color": ("red", "blue", "green", "warm white", "purple"),
    },
    "zh-cn": {
        "name": ("台灯", "吊灯", "落地灯", "风扇", "电暖器", "电视", "音箱", "百叶窗", "窗帘", "咖啡机", "扫地机器人"),
        "area": ("厨房", "客厅", "卧室", "书房", "浴室", "车库", "走廊"),
        "color": ("红色", "蓝色", "绿色", "暖白色", "紫色"),
    },
}
_FIELD = re.compile(r"\{(name|area|color|number)\}")


def fill(template: str, language: str, rng: random.Random) -> tuple[str, list[Span]]:
    """Fill a template's {slots} at random and return the text with its character spans."""
    text, spans, pos = "", [], 0
    for match in _FIELD.finditer(template):
        text += template[pos : match.start()]
        slot = match.group(1)
        value = str(rng.randint(0, 100)) if slot == "number" else rng.choice(_FILL[language][slot])
        spans.append(Span(slot=slot, start=len(text), end=len(text) + len(value)))  # type: ignore[arg-type]
        text += value
        pos = match.end()
    return text + template[pos:], spans


def make_examples(per_intent: int, seed: int) -> list[Example]:
    """`per_intent` examples of each label, about half English and half Chinese."""
    rng = random.Random(seed)
    out = []
    for intent in INTENT_LABELS:
        for i in range(per_intent):
            language, templates = ("en", _EN) if i % 2 == 0 else ("zh-cn", _ZH)
            text, spans = fill(rng.choice(templates[intent]), language, rng)
            out.append(Example(text=text, language=language, intent=intent, spans=spans, source="synthetic"))  # type: ignore[arg-type]
    rng.shuffle(out)
    return out


def write_tiny_dataset(out_dir: Path, *, per_intent: int = 24, seed: int = 0, calib_fraction: float = 0.25) -> Path:
    """Write train.jsonl, calib.jsonl and data_card.json like the real data generator does."""
    out_dir.mkdir(parents=True, exist_ok=True)
    examples = make_examples(per_intent, seed)
    n_calib = int(len(examples) * calib_fraction)
    splits = {"calib": examples[:n_calib], "train": examples[n_calib:]}
    digest = hashlib.sha256()
    for name, rows in splits.items():
        body = "".join(row.model_dump_json() + "\n" for row in rows)
        (out_dir / f"{name}.jsonl").write_text(body, encoding="utf-8")
        digest.update(body.encode())
    card = {"data_hash": digest.hexdigest(), "seed": seed, "per_intent": per_intent}
    (out_dir / "data_card.json").write_text(json.dumps(card), encoding="utf-8")
    return out_dir
