"""How people ask for things, in English and Chinese: the phrasings the tiny planner's generator fills in.

`{x}` is the device as spoken, `{n}` a number, `{c}` a colour, `{m}` an HVAC mode, `{a}` an area, `{d}` a duration.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Phrasing:
    """One device action: the tool, its value argument (if any), where values come from, and phrasings per language."""

    tool: str
    arg: str | None
    values: str | None  # "pct", "temp", "color", "hvac"
    en: tuple[str, ...]
    zh: tuple[str, ...]


ON_EN = ("turn on the {x}", "switch on the {x}", "turn the {x} on", "start the {x}")
ON_ZH = ("打开{x}", "把{x}打开", "开一下{x}", "开启{x}")
OFF_EN = ("turn off the {x}", "switch off the {x}", "turn the {x} off", "shut off the {x}")
OFF_ZH = ("关闭{x}", "把{x}关掉", "关掉{x}", "关一下{x}")
_PCT_EN = ("set the {x} to {n}%", "set the {x} to {n} percent")
_TOGGLE = Phrasing("toggle", None, None, ("toggle the {x}",), ("切换{x}", "切换一下{x}"))

ACTIONS: dict[str, tuple[Phrasing, ...]] = {
    "light": (
        Phrasing("turn_on", None, None, ON_EN, ON_ZH), Phrasing("turn_off", None, None, OFF_EN, OFF_ZH), _TOGGLE,
        Phrasing("turn_on", "brightness_pct", "pct",
                 (*_PCT_EN, "dim the {x} to {n}%", "set the {x} brightness to {n}%"),
                 ("把{x}亮度调到{n}%", "{x}调到{n}%", "把{x}调到{n}%亮度")),
        Phrasing("turn_on", "color_name", "color", ("turn the {x} {c}", "make the {x} {c}", "set the {x} to {c}"),
                 ("把{x}调成{c}", "{x}换成{c}", "把{x}变成{c}")),
    ),
    "switch": (Phrasing("turn_on", None, None, ON_EN, ON_ZH), Phrasing("turn_off", None, None, OFF_EN, OFF_ZH),
               _TOGGLE),
    "fan": (
        Phrasing("turn_on", None, None, ON_EN, ON_ZH), Phrasing("turn_off", None, None, OFF_EN, OFF_ZH),
        Phrasing("set_percentage", "percentage", "pct", (*_PCT_EN, "set the {x} speed to {n}%"),
                 ("把{x}风速调到{n}%", "{x}风速{n}%", "把{x}调到{n}%")),
    ),
    "climate": (
        Phrasing("turn_on", None, None, ON_EN, (*ON_ZH, "开{x}")), Phrasing("turn_off", None, None, OFF_EN, OFF_ZH),
        Phrasing("set_temperature", "temperature", "temp", ("set the {x} to {n} degrees", "set the {x} to {n}"),
                 ("把{x}调到{n}度", "{x}设置为{n}度", "{x}调到{n}度")),
        Phrasing("set_hvac_mode", "hvac_mode", "hvac", ("set the {x} to {m} mode", "switch the {x} to {m}"),
                 ("把{x}调到{m}模式", "{x}切换到{m}模式")),
    ),
    "cover": (
        Phrasing("open_cover", None, None, ("open the {x}", "raise the {x}"), ("打开{x}", "拉开{x}", "把{x}打开")),
        Phrasing("close_cover", None, None, ("close the {x}", "lower the {x}", "shut the {x}"),
                 ("关上{x}", "拉上{x}", "把{x}关上")),
        Phrasing("stop_cover", None, None, ("stop the {x}",), ("停止{x}", "让{x}停下")),
        Phrasing("set_cover_position", "position", "pct", ("set the {x} to {n}%", "open the {x} to {n}%"),
                 ("把{x}开到{n}%", "{x}开到{n}%", "把{x}调到{n}%")),
    ),
    "lock": (
        Phrasing("lock", None, None, ("lock the {x}", "secure the {x}"), ("锁上{x}", "把{x}锁上", "锁好{x}")),
        Phrasing("unlock", None, None, ("unlock the {x}",), ("解锁{x}", "把{x}解锁", "打开{x}的锁")),
    ),
    "vacuum": (
        Phrasing("start", None, None, ("start the {x}", "run the {x}", "let the {x} clean"),
                 ("启动{x}", "让{x}开始打扫", "{x}开始扫地")),
        Phrasing("stop", None, None, ("stop the {x}",), ("停止{x}", "让{x}停下")),
        Phrasing("return_to_base", None, None, ("send the {x} back to its dock", "send the {x} home"),
                 ("让{x}回去充电", "{x}回去充电", "让{x}回充")),
    ),
    "media_player": (
        Phrasing("turn_on", None, None, ON_EN, ON_ZH), Phrasing("turn_off", None, None, OFF_EN, OFF_ZH),
        Phrasing("media_play", None, None, ("play music on the {x}", "resume the {x}"), ("{x}播放音乐", "继续播放{x}")),
        Phrasing("media_pause", None, None, ("pause the {x}",), ("暂停{x}", "把{x}暂停")),
        Phrasing("media_next_track", None, None, ("next track on the {x}", "skip this song on the {x}"),
                 ("{x}下一首", "{x}切到下一首")),
        Phrasing("media_previous_track", None, None, ("previous track on the {x}",), ("{x}上一首",)),
        Phrasing("volume_set", "volume_level", "pct",
                 ("set the {x} volume to {n}%", "set the volume of the {x} to {n}%"),
                 ("把{x}音量调到{n}%", "{x}音量{n}%")),
    ),
    "alarm_control_panel": (
        Phrasing("alarm_arm_away", None, None, ("arm the {x}", "arm the {x} in away mode"),
                 ("启动{x}离家模式", "{x}布防")),
        Phrasing("alarm_arm_home", None, None, ("arm the {x} in home mode",), ("启动{x}在家模式",)),
        Phrasing("alarm_disarm", None, None, ("disarm the {x}",), ("{x}撤防", "解除{x}")),
    ),
}

COLORS: tuple[tuple[str, str], ...] = (
    ("red", "红色"), ("green", "绿色"), ("blue", "蓝色"), ("yellow", "黄色"), ("purple", "紫色"), ("orange", "橙色"),
    ("white", "白色"), ("pink", "粉色"), ("cyan", "青色"),
)
HVAC_MODES: tuple[tuple[str, str], ...] = (
    ("cool", "制冷"), ("heat", "制热"), ("auto", "自动"), ("dry", "除湿"), ("fan_only", "送风"),
)
#: (seconds, English, Chinese)
DURATIONS: tuple[tuple[int, str, str], ...] = (
    (10, "10 seconds", "10秒"), (30, "30 seconds", "30秒"), (60, "1 minute", "1分钟"), (90, "90 seconds", "90秒"),
    (120, "2 minutes", "2分钟"), (180, "3 minutes", "3分钟"), (300, "5 minutes", "5分钟"),
    (600, "10 minutes", "10分钟"),
    (900, "15 minutes", "15分钟"), (1200, "20 minutes", "20分钟"), (1800, "30 minutes", "半小时"),
    (2700, "45 minutes", "45分钟"), (3600, "1 hour", "1小时"), (7200, "2 hours", "2小时"),
)
MESSAGES_EN: tuple[str, ...] = (
    "dinner is ready", "the laundry is done", "someone is at the door", "time to leave", "the kids are home",
    "take out the trash", "the package has arrived", "the oven is hot", "the movie starts soon", "water the plants",
    "the bath is ready", "lunch is ready", "the guests are here", "feed the cat", "call mom",
)
MESSAGES_ZH: tuple[str, ...] = (
    "晚饭好了", "衣服洗好了", "有人在门口", "该出门了", "孩子到家了", "记得倒垃圾", "快递到了", "烤箱预热好了",
    "电影快开始了", "给花浇水", "洗澡水好了", "午饭好了", "客人到了", "喂猫", "给妈妈打电话",
)

PREFIX_EN: tuple[str, ...] = ("", "", "", "please ", "can you ", "could you ", "hey, ")
SUFFIX_EN: tuple[str, ...] = ("", "", "", ".", " please", "!")
PREFIX_ZH: tuple[str, ...] = ("", "", "", "请", "帮我", "麻烦")
SUFFIX_ZH: tuple[str, ...] = ("", "", "", "。", "吧", "！")

AND_EN: tuple[str, ...] = (" and ", ", and ", ", ")
THEN_EN: tuple[str, ...] = (", then ", " and then ", ", after that ")
AND_ZH: tuple[str, ...] = ("，", "并且", "，同时")
THEN_ZH: tuple[str, ...] = ("，然后", "，之后再", "，接着")

#: Whole-home requests: (scene, English, Chinese)
SCENES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "leave": (("when I leave, turn everything off and lock up", "I'm leaving, turn everything off and lock the doors",
               "I'm heading out, shut everything down and lock up"),
              ("我出门了，把所有东西关掉并锁门", "我要走了，全部关掉然后锁门", "出门模式：关掉所有设备并锁好门")),
    "all_off": (("turn everything off", "switch off everything", "shut everything down"),
                ("把所有设备都关掉", "全部关掉", "关掉所有东西")),
    "night": (("good night", "I'm going to bed", "bedtime"), ("晚安", "我要睡觉了", "睡觉模式")),
    "lights_off": (("turn off all the lights", "switch off every light", "all lights off"),
                   ("关掉所有的灯", "把所有灯都关了", "全部关灯")),
    "lights_on": (("turn on all the lights", "all lights on"), ("打开所有的灯", "把所有灯都打开")),
    "lock_up": (("lock all the doors", "lock up"), ("锁好所有门", "把门都锁上")),
}
