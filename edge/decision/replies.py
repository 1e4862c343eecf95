"""What the edge says back, in English and Chinese."""

from __future__ import annotations

from typing import Any

from shared.errors import AutoGLMError

MESSAGES: dict[str, dict[str, str]] = {
    "done": {"en": "Done: {summary}.", "zh-cn": "好的，{summary}。"},
    "partial": {"en": "Only partly done: {summary}.", "zh-cn": "部分完成：{summary}。"},
    "no_such_name": {"en": "There is no device called {name}{where}.", "zh-cn": "{where}没有叫{name}的设备。"},
    "no_such_domain": {"en": "There is no {domain}{where}.", "zh-cn": "{where}没有{domain}。"},
    "no_such_area": {"en": "There is no area called {area}.", "zh-cn": "没有叫{area}的区域。"},
    "no_device": {"en": "There is no device that can do that{where}.", "zh-cn": "{where}没有能做这件事的设备。"},
    "ambiguous": {"en": "Which {name} do you mean: {choices}?", "zh-cn": "您指的是哪个{name}：{choices}？"},
    "unsupported": {"en": "{name} cannot {action}.", "zh-cn": "{name}不支持{action}。"},
    "not_local": {"en": "I understood '{intent}', but the edge does not handle it locally yet.",
                  "zh-cn": "我听懂了（{intent}），但本地网关暂时不能处理。"},
    "deferred": {"en": "That is for '{when}', and this gateway cannot schedule: nothing was changed now.",
                 "zh-cn": "这是“{when}”要做的事，网关本地不能定时执行，现在没有做任何操作。"},
    "cloud_planned": {"en": "The cloud planner is on it: a plan of {steps} steps is running.",
                      "zh-cn": "已交给云端规划：正在执行一个{steps}步的计划。"},
    "cloud_plan_failed": {"en": "The cloud planner made a plan, but it did not start ({status}).",
                          "zh-cn": "云端生成了计划，但没有开始执行（{status}）。"},
    "cloud_refused": {"en": "Sorry, neither I nor the cloud planner can do '{text}'.",
                      "zh-cn": "抱歉，本地和云端都无法处理“{text}”。"},
    "cloud_unavailable": {"en": "'{text}' needs the cloud, which is unreachable right now; local commands still work.",
                          "zh-cn": "“{text}”需要云端处理，但云端现在连不上；本地指令仍然可用。"},
    "rate_limited": {"en": "Not now: {reason}. Try again later.", "zh-cn": "暂不执行：{reason}。请稍后再试。"},
    "held": {"en": "Please confirm first: {reason}.", "zh-cn": "请先确认：{reason}。"},
    "busy": {"en": "I am busy right now; please try again in a moment.", "zh-cn": "我现在有点忙，请稍后再试。"},
    "cloud_queued": {"en": "'{text}' needs the cloud, which is unreachable; I will do it when it is back "
                            "(within {minutes:g} min). Local commands still work.",
                     "zh-cn": "“{text}”需要云端处理，云端暂时连不上；恢复后{minutes:g}分钟内会执行。"
                              "本地指令仍然可用。"},
    "cloud_expired": {"en": "'{text}' was not done: the cloud was unreachable for too long.",
                      "zh-cn": "“{text}”没有执行：云端太久连不上了。"},
    "cloud_replayed": {"en": "The cloud is unreachable; I ran the plan it made for this request before.",
                       "zh-cn": "云端连不上；已按它之前为这个请求生成的计划执行。"},
    "confirmation_changed": {"en": "Nothing was done: the plan is not the one you confirmed any more; ask again.",
                             "zh-cn": "没有执行：计划已不是您确认的那个了，请重新发起。"},
    "confirmation_refused": {"en": "Nothing was done: the cloud refused the confirmed plan ({reason}).",
                             "zh-cn": "没有执行：云端拒绝了已确认的计划（{reason}）。"},
    "not_understood": {"en": "Sorry, I did not understand '{text}'.", "zh-cn": "抱歉，我没听懂“{text}”。"},
    "needs_confirmation": {"en": "Please confirm first: {summary} is a sensitive action.",
                           "zh-cn": "请先确认：{summary}是敏感操作。"},
    "offline": {"en": "{name} is offline.", "zh-cn": "{name}离线了。"},
    "timeout": {"en": "{name} did not confirm within {seconds:g} s.", "zh-cn": "{name}在{seconds:g}秒内没有确认。"},
    "rejected": {"en": "{name} refused: {reason}.", "zh-cn": "{name}拒绝了指令：{reason}。"},
    "state": {"en": "{name} is {state}.", "zh-cn": "{name}的状态是{state}。"},
    "state_unknown": {"en": "I do not know the state of {name} yet.", "zh-cn": "还不知道{name}的状态。"},
    "temperature": {"en": "It is {value:g} °C{where}.", "zh-cn": "{where}温度是{value:g}°C。"},
    "time": {"en": "It is {value}.", "zh-cn": "现在是{value}。"},
    "date": {"en": "Today is {value}.", "zh-cn": "今天是{value}。"},
    "nevermind": {"en": "OK.", "zh-cn": "好的。"},
    "error": {"en": "Something went wrong: {reason}.", "zh-cn": "出错了：{reason}。"},
}

DOMAIN_WORDS: dict[str, dict[str, str]] = {
    "light": {"en": "light", "zh-cn": "灯"}, "switch": {"en": "switch", "zh-cn": "开关"},
    "climate": {"en": "thermostat", "zh-cn": "空调或温控器"}, "cover": {"en": "cover", "zh-cn": "窗帘"},
    "lock": {"en": "lock", "zh-cn": "锁"}, "vacuum": {"en": "vacuum", "zh-cn": "扫地机器人"},
    "media_player": {"en": "media player", "zh-cn": "播放器"}, "sensor": {"en": "sensor", "zh-cn": "传感器"},
    "fan": {"en": "fan", "zh-cn": "风扇"}, "binary_sensor": {"en": "sensor", "zh-cn": "传感器"},
}

ACTION_WORDS: dict[str, dict[str, str]] = {
    "turn_on": {"en": "turned on {name}", "zh-cn": "已打开{name}"},
    "turn_off": {"en": "turned off {name}", "zh-cn": "已关闭{name}"},
    "set_brightness": {"en": "set {name} to {value:g}%", "zh-cn": "已把{name}亮度调到{value:g}%"},
    "set_color": {"en": "changed the colour of {name}", "zh-cn": "已改变{name}的颜色"},
    "set_color_temp": {"en": "changed the colour temperature of {name}", "zh-cn": "已调整{name}的色温"},
    "set_temperature": {"en": "set {name} to {value:g} °C", "zh-cn": "已把{name}设到{value:g}°C"},
    "set_hvac_mode": {"en": "set {name} to {value}", "zh-cn": "已把{name}设为{value}"},
    "open": {"en": "opened {name}", "zh-cn": "已打开{name}"},
    "close": {"en": "closed {name}", "zh-cn": "已关闭{name}"},
    "stop": {"en": "stopped {name}", "zh-cn": "已停止{name}"},
    "set_position": {"en": "set {name} to {value:g}%", "zh-cn": "已把{name}调到{value:g}%"},
    "lock": {"en": "locked {name}", "zh-cn": "已锁上{name}"},
    "unlock": {"en": "unlocked {name}", "zh-cn": "已解锁{name}"},
    "start": {"en": "started {name}", "zh-cn": "已启动{name}"},
    "pause": {"en": "paused {name}", "zh-cn": "已暂停{name}"},
    "return_to_base": {"en": "sent {name} back to its dock", "zh-cn": "已让{name}回充"},
    "media_play": {"en": "resumed {name}", "zh-cn": "已继续播放{name}"},
    "media_pause": {"en": "paused {name}", "zh-cn": "已暂停{name}"},
    "media_next": {"en": "skipped to the next track on {name}", "zh-cn": "{name}已切到下一首"},
    "media_previous": {"en": "went back a track on {name}", "zh-cn": "{name}已切到上一首"},
    "set_volume": {"en": "set the volume of {name} to {value:g}%", "zh-cn": "已把{name}音量调到{value:g}%"},
}


def render(language: str, key: str, **params: Any) -> str:
    """A reply in `language` (English when no translation exists)."""
    table = MESSAGES.get(key, MESSAGES["error"])
    template = table.get(language) or table["en"]
    try:
        return template.format(**params)
    except (KeyError, ValueError, IndexError):
        return table["en"].format_map(_Missing(params))


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def action_phrase(language: str, action: str, name: str, value: Any = None, *, pending: bool = False) -> str:
    """'turned on Kitchen Light' / '已打开厨房灯'; with `pending`, what is about to happen ('unlock ...')."""
    table = ACTION_WORDS.get(action, {"en": f"{action} {{name}}"})
    template = table.get(language) or table["en"]
    number = value if isinstance(value, int | float) else 0
    if pending:
        if language == "en":
            template = action.replace("_", " ") + " {name}"
        template = template.removeprefix("已")
    return template.format(name=name, value=number)


def domain_word(language: str, domain: str) -> str:
    """'light' / '灯'."""
    return DOMAIN_WORDS.get(domain, {}).get(language) or domain


def where(language: str, area: str | None) -> str:
    """' in the Kitchen' / 'Kitchen' placement for messages."""
    if not area:
        return ""
    return f" in the {area}" if language == "en" else area


class Refusal(AutoGLMError):
    """A request the edge understood but cannot carry out; carries a localisable reply."""

    def __init__(self, outcome: str, key: str, **params: Any) -> None:
        self.outcome = outcome
        self.key = key
        self.params = params
        super().__init__(render("en", key, **params))

    def reply(self, language: str) -> str:
        """The refusal in the user's language."""
        return render(language, self.key, **self.params)
