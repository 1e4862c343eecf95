"""Augmentation on pieces, so spans stay exact: wake words, politeness, SLURP-style casing, typos, word order.

Every transform is applied with the same probabilities to in-scope and out-of-scope sentences, so none
of them can become a shortcut for the label.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal

from autoglm.intent.phrasings_sampler import Piece

#: "command" takes "could you ..."; "question" takes "tell me ..."; "chat" (statements) only hesitations.
Kind = Literal["command", "question", "chat"]

WAKE = {
    "en": ("olly", "olly", "hey olly", "ok olly", "alexa", "hey alexa", "hey google", "ok google", "hey siri",
           "siri", "jarvis", "hi assistant", "computer", "hey mycroft", "hey home assistant", "assistant"),
    "zh-cn": ("小爱同学", "小度小度", "天猫精灵", "你好小智", "小爱", "小度", "嘿Siri", "小艺小艺", "你好小度", "小智"),
}
PREFIX = {
    ("en", "command"): ("please", "could you", "can you", "i want you to", "kindly", "i'd like you to", "will you",
                        "would you", "go ahead and", "hey can you", "um", "uh", "so", "ok", "okay", "right",
                        "alright", "could you please", "can you please", "please can you", "just", "quickly",
                        "i need you to", "you can", "now", "ok now"),
    ("en", "question"): ("um", "uh", "so", "ok", "hey", "quick question", "tell me", "can you tell me",
                         "do you know", "please tell me"),
    ("zh-cn", "command"): ("请", "帮我", "麻烦", "麻烦你", "给我", "你帮我", "能不能", "可以帮我", "请帮我", "嗯",
                           "那个", "快", "现在"),
    ("zh-cn", "question"): ("请问", "帮我看看", "你知道", "嗯", "那个", "告诉我", "查一下"),
    # Statements and small talk: hesitations only ("um it's too bright in here").
    ("en", "chat"): ("um", "uh", "so", "ok", "okay", "hey", "well", "oh"),
    ("zh-cn", "chat"): ("嗯", "那个", "哎", "诶", "哎呀"),
}
SUFFIX = {
    ("en", "command"): ("please", "for me", "real quick", "now", "thanks", "thank you", "right now", "asap",
                        "if you can", "would you", "please and thank you", "when you can", "okay", "thanks olly"),
    ("en", "question"): ("please", "thanks", "thank you"),
    ("zh-cn", "command"): ("吧", "好吗", "谢谢", "可以吗", "呀", "哈", "啊", "好不好", "谢谢你"),
    ("zh-cn", "question"): ("谢谢", "呀"),
}
_QUESTION_START = re.compile(
    r"^(what|what's|whats|who|who's|how|how's|is|are|was|were|when|where|where's|which|do|does|did|can|could|"
    r"will|why|should|have|has|am)\b")
#: Sentences starting with these take "could you ..." and "... please"; anything else only wake words.
_COMMAND_START = re.compile(
    r"^(turn|switch|set|make|change|dim|brighten|lower|raise|increase|decrease|reduce|open|close|shut|start|stop|"
    r"pause|resume|unpause|continue|skip|play|go|send|dock|park|return|clean|vacuum|hoover|mop|lock|unlock|put|get|"
    r"activate|deactivate|run|boil|brew|kill|give|bring|adjust|heat|cool|warm|keep|move|light|power|fire|launch|"
    r"wake|remind|add|remove|delete|cancel|call|text|email|order|book|find|read|tell|show|check|schedule|"
    r"translate|convert|define|search|post|tweet|update|shuffle|repeat|mute|unmute|snooze|track|reorder|recommend|"
    r"suggest|buy|reply|phone|ring|dial|sing|flip|roll|pick|tune|crank|drop|tone|bump|boost|cut|pull|draw|recall|"
    r"have|hit|press|replay|rewind|carry|create|clear|catch|prepare|fix|pour|lift|begin|broadcast|empty|"
    r"select|use|apply|restart|reboot|swap|sort|cook|bake|sign|list|spell)\b")
_ZH_QUESTION = re.compile(r"(吗|呢|多少|几|什么|哪|怎么|谁|没有|了没|如何|是不是|有没有|堵不堵|冷不冷|热不热)")
_ZH_COMMAND_START = re.compile(
    r"^(把|将|打开|开|关|调|设|启动|停|暂停|继续|恢复|播放|放|切|换|拉|锁|解锁|扫|打扫|清扫|清洁|让|叫|用|送|召回|"
    r"提醒|给|发|打|订|点|导航|翻译|搜|百度|推荐|取消|删除|定|倒计时|加|收藏|随机|单曲|来|煮|冲|做|泡|讲|唱|掷|陪|"
    r"读|播报|刷|回|降低|提高|熄|跳过|亮度|音量|声音|温度|空调|窗帘|灯|拖|全屋|开始)")
_PUNCT_EN = re.compile(r"[,!?;:\"“”]|\.(?!\d)|(?<!\d)\.")
_PUNCT_ZH = re.compile(r"[，。！？、；：,!?;:\"“”]")
_KEYS = "qwertyuiop asdfghjkl zxcvbnm"


@dataclass(frozen=True, slots=True)
class Rates:
    """Probabilities of each transform."""

    wake: float = 0.15
    wake_at_end: float = 0.2
    prefix: float = 0.2
    suffix: float = 0.12
    typo: float = 0.04
    reorder: float = 0.15
    keep_case: float = 0.08  # English only: "Turn on the lights?" as HA's tests write it
    keep_punct: float = 0.1
    schedule: float = 0.05  # commands only: "at one pm today ...", "... when i get home"


def kind_of(text: str, language: str) -> Kind:
    """Command, question or anything else ("chat": statements, small talk), from the first words."""
    if language == "en":
        folded = text.casefold()
        if _QUESTION_START.match(folded):
            return "question"
        return "command" if _COMMAND_START.match(folded) else "chat"
    if _ZH_QUESTION.search(text):
        return "question"
    return "command" if _ZH_COMMAND_START.match(text) else "chat"


def augment(pieces: list[Piece], language: str, kind: Kind, rng: random.Random,
            rates: Rates = Rates()) -> tuple[list[Piece], bool]:
    """Randomly augmented pieces and whether anything beyond casing/punctuation changed."""
    out = list(pieces)
    changed = False
    if language == "en" and rng.random() < rates.typo:
        out, typo = _typo(out, rng)
        changed |= typo
    if kind != "chat" and language == "en" and rng.random() < rates.reorder:
        moved = _front_area(out)
        changed |= moved is not out
        out = moved
    if kind == "command" and rng.random() < rates.schedule:
        when = schedule_phrase(language, rng)
        if language == "en" and rng.random() < 0.5:
            out.append(Piece(" " + when))
        else:
            out.insert(0, Piece(when + (" " if language == "en" else rng.choice(("", "，")))))
        changed = True
    if rng.random() < (rates.prefix if kind != "chat" else rates.prefix / 3) and not _has_prefix(out, language):
        out.insert(0, Piece(rng.choice(PREFIX[(language, kind)]) + " "))
        changed = True
    if kind != "chat" and rng.random() < rates.suffix:
        out.append(Piece(" " + rng.choice(SUFFIX[(language, kind)])))
        changed = True
    if rng.random() < rates.wake:
        wake = rng.choice(WAKE[language])
        if rng.random() < rates.wake_at_end:
            out.append(Piece(" " + wake))
        else:
            out.insert(0, Piece(wake + rng.choice((" ", " ", ", ") if language == "en" else ("", "，", " "))))
        changed = True
    return style(out, language, kind, rng, rates), changed


def style(pieces: list[Piece], language: str, kind: Kind, rng: random.Random, rates: Rates = Rates()) -> list[Piece]:
    """SLURP style: mostly lower-case without punctuation; a few keep HA's test style."""
    keep_punct = rng.random() < rates.keep_punct
    if language == "en":
        pieces = [Piece(p.text.replace("%", " percent" if rng.random() < 0.6 else "%").replace("°", " degrees")
                        if not p.slot else p.text, p.slot) for p in pieces]
        keep_case = kind != "chat" and rng.random() < rates.keep_case
        pieces = [Piece(p.text if keep_case else p.text.lower(), p.slot) for p in pieces]
        if keep_case and pieces and pieces[0].text:
            first = pieces[0]
            pieces[0] = Piece(first.text[:1].upper() + first.text[1:], first.slot)
        if not keep_punct:
            pieces = [Piece(_PUNCT_EN.sub(" ", p.text) if not p.slot else p.text, p.slot) for p in pieces]
        elif rng.random() < 0.5:
            pieces.append(Piece(rng.choice(("?", ".", "!"))))
    elif not keep_punct:
        pieces = [Piece(_PUNCT_ZH.sub(" ", p.text) if not p.slot else p.text, p.slot) for p in pieces]
    elif rng.random() < 0.5:
        pieces.append(Piece(rng.choice(("。", "？", "！", "?"))))
    return pieces


def _has_prefix(pieces: list[Piece], language: str) -> bool:
    """The sentence already opens politely ("please ...", "帮我 ...")."""
    start = "".join(p.text for p in pieces[:2]).lstrip().casefold()
    return start.startswith(_POLITE[language])


_POLITE = {"en": ("please", "can you", "could you", "would you", "i want", "i need", "i'd like"),
           "zh-cn": ("请", "帮我", "给我", "麻烦", "能不能", "可以")}


def _front_area(pieces: list[Piece]) -> list[Piece]:
    """'turn on the lights in the kitchen' -> 'in the kitchen turn on the lights'."""
    if len(pieces) < 2 or pieces[-1].slot != "area":
        return pieces
    match = re.search(r"\s(in|in the|at|at the)\s*$", pieces[-2].text)
    if match is None or not pieces[-2].text[:match.start()].strip():
        return pieces
    head = Piece(pieces[-2].text[:match.start()])
    return [Piece(match.group(1) + " "), pieces[-1], Piece(" "), *pieces[:-2], head]


def _typo(pieces: list[Piece], rng: random.Random) -> tuple[list[Piece], bool]:
    """One slip of the keyboard in a word outside the slots."""
    spots = [(i, m) for i, p in enumerate(pieces) if not p.slot for m in re.finditer(r"[a-z]{4,}", p.text)]
    if not spots:
        return pieces, False
    i, m = rng.choice(spots)
    word = m.group()
    k = rng.randrange(1, len(word) - 1)
    op = rng.randrange(4)
    if op == 0:
        new = word[:k] + word[k + 1] + word[k] + word[k + 2:]
    elif op == 1:
        new = word[:k] + word[k + 1:]
    elif op == 2:
        new = word[:k] + word[k] + word[k:]
    else:
        row = next(r for r in _KEYS.split() if word[k] in r) if any(word[k] in r for r in _KEYS.split()) else ""
        j = row.find(word[k])
        near = [row[x] for x in (j - 1, j + 1) if 0 <= x < len(row)]
        new = word[:k] + (rng.choice(near) if near else word[k]) + word[k + 1:]
    text = pieces[i].text
    out = list(pieces)
    out[i] = Piece(text[:m.start()] + new + text[m.end():], None)
    return out, new != word


_HOURS_EN = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
_HOURS_ZH = ("一", "两", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二")


def schedule_phrase(language: str, rng: random.Random) -> str:
    """A time or an event a command is tied to ("at ten to eleven am daily", "when i get home", "明天早上七点").

    The label stays the command's: recognising "start the vacuum" is the model's job; the time travels in the text
    for the cloud, which schedules.
    """
    if language != "en":
        day = rng.choice(("", "", "今天", "明天", "每天", "今晚", "周末", "工作日"))
        part = rng.choice(("", "早上", "上午", "中午", "下午", "晚上", "凌晨"))
        clock = rng.choice(_HOURS_ZH) + "点" + rng.choice(("", "", "半", "十分", "一刻", "整"))
        events = ("十分钟后", "半小时后", "一个小时后", "五分钟以后", "等我到家", "等我回家的时候", "我出门以后",
                  "天黑以后", "日落的时候", "每天")
        return rng.choice((day + part + clock, day + part + clock, rng.choice(events)))
    hour = rng.choice(_HOURS_EN) if rng.random() < 0.7 else str(rng.randint(1, 12))
    clock = rng.choice((hour, hour, f"{hour} thirty", f"{hour} fifteen", f"{hour} o'clock", f"half past {hour}",
                        f"quarter past {hour}", f"ten to {hour}", f"quarter to {hour}", "noon", "midnight"))
    clock += rng.choice(("", "", " am", " pm", " a m", " p m", " in the morning", " in the evening", " tonight"))
    day = rng.choice(("", "", "", " today", " tomorrow", " daily", " every day", " on weekdays", " every morning",
                      " on monday", " on saturday"))
    event = rng.choice(("when i arrive home", "when i get home", "when i leave", "when i wake up",
                        "before i get home", "at sunset", "at sunrise", "in ten minutes", "in an hour",
                        "in half an hour", "in five minutes", "every morning", "every night", "daily", "tonight",
                        "tomorrow morning", "after dinner"))
    return rng.choice((f"at {clock}{day}", f"at {clock}{day}", f"by {clock}{day}", f"around {clock}{day}", event))
