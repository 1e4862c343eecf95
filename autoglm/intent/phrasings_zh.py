"""Our own Chinese (zh-cn) templates for how people talk to smart speakers, by label (hassil syntax).

Same lists as the English templates; numbers are digits or Chinese numerals, {half} is 一半.
"""

from __future__ import annotations

RULES: dict[str, str] = {
    "on": "(打开|开启|开|打开一下|开一下)",
    "off": "(关闭|关掉|关了|关|关上|关一下)",
    "lights": "(灯|灯光|电灯|所有灯|所有的灯)",
    "a": "[的]",
    "bit": "(一点|一些|一点点|些|一下)",
    "pct": "(百分之{brightness}|{brightness}%|{brightness})",
    "pos": "(百分之{position}|{position}%|{position})",
    "vol": "(百分之{volume}|{volume}%|{volume})",
    "deg": "{temperature}(度|度|摄氏度)",
    "to": "(调到|调成|设为|设置为|设成|调至)",
    "color_to": "(调成|换成|变成|改成|设为|设成|切换成)",
    "home": "(家里|房子|全屋|屋子|地面|地板|整个家|整个房子|客厅和卧室)",
    "dock": "(基站|充电座|充电桩|底座)",
    "play": "(播放|音乐|视频|电视|歌曲|节目)",
}

TEMPLATES: dict[str, list[str]] = {
    "HassTurnOn": [
        "<on>{device}", "<on>{area}<a>{device}", "把{device}<on>", "把{area}<a>{device}(打开|开了|开开|开起来)",
        "{device}(打开|开一下|开起来)", "<on>{area}<a><lights>", "把{area}<a><lights>(打开|开了|开开)",
        "{area}<lights>开一下", "开灯", "开一下灯", "把灯打开", "灯(打开|开一下)", "{area}开灯",
        "(太|好|有点)黑了", "{area}(太|好)黑了", "屋里(好|太)黑", "黑乎乎的什么都看不见",
        "启动{switch}", "把{switch}启动", "{switch}(开一下|启动一下|打开)", "<on>{light}", "把{light}打开",
        "(帮我|给我)(煮|做|冲|来)[一]杯{drink}", "我(想|要)喝{drink}", "来[一]杯{drink}", "煮点{drink}",
        "我需要一杯{drink}", "(冲|泡)杯{drink}", "(好困|困了)(来|煮)杯{drink}", "<on>咖啡机",
        "<on>{cover}", "把{cover}(打开|拉开|升起来)", "拉开{area}<a>{cover}", "{area}<a>{cover}(打开|拉开)",
        "(锁上|锁好){lock}", "把{lock}锁(上|好)", "(打开|开启|启动|切换到|进入){scene}", "{scene}",
        "<on>{fan}", "{fan}开一下", "<on>{climate}", "开{climate}", "把{area}<a>{climate}打开",
        "(打开|开)[一下]{media_player}", "把{media_player}打开", "我要看电视", "让{light}亮起来",
    ],
    "HassTurnOff": [
        "<off>{device}", "<off>{area}<a>{device}", "把{device}<off>", "把{area}<a>{device}(关掉|关了|关上)",
        "{device}(关掉|关一下|关了)", "<off>{area}<a><lights>", "把{area}<a><lights>(关掉|关了|关上)",
        "{area}<lights>关一下", "关灯", "关一下灯", "熄灯", "把灯(都|全)关了", "(所有灯|全部灯)都关掉",
        "我要睡觉了(把灯关了|关灯)", "{area}关灯", "<off>{light}", "把{light}关了", "{light}(关掉|灭了)",
        "停止{switch}", "把{switch}停(了|掉)", "<off>{cover}", "把{cover}(关上|拉上|合上|放下来)",
        "拉上{area}<a>{cover}", "(解锁|打开){lock}", "把{lock}(解锁|打开)", "<off>{fan}", "{fan}关了吧",
        "<off>{climate}", "把{area}<a>{climate}关了", "(关闭|退出){scene}", "<off>{media_player}",
        "把{media_player}关了", "(全部|都)关了", "家里的灯全关了", "{area}的灯别开了", "让{light}灭了",
    ],
    "HassLightSet": [
        "把{area}<a><lights><color_to>{color}", "<lights><color_to>{color}", "{light}<color_to>{color}",
        "把{light}<color_to>{color}", "我想要{color}的<lights>", "来点{color}的灯光", "把灯光颜色<color_to>{color}",
        "{color}灯光", "(换|改)一下灯的颜色", "换个[灯光]颜色", "{area}<a>灯光<color_to>{color}",
        "亮度<to><pct>", "把{light}[的]亮度<to><pct>", "{area}<a>灯亮度<to><pct>", "灯光亮度{brightness}",
        "把灯调到<pct>[的亮度]", "{light}亮度<pct>", "把{area}<a><lights>亮度<to><pct>", "灯开到<pct>",
        "灯光颜色换成{color}", "给我{color}的灯", "[把]灯变成{color}", "{area}用{color}的灯光",
    ],
    "HassLightSet+down": [
        "(调暗|调低|暗)<bit>", "把灯调暗[<bit>]", "灯(暗|调暗)<bit>", "{area}<a>灯调暗[<bit>]", "太亮了",
        "{area}太亮了", "(好|太)刺眼", "灯光太刺眼了", "亮度(调低|降低|减小|调小|小)<bit>", "把{light}调暗[<bit>]",
        "(灯|灯光)(暗|柔和)<bit>", "把亮度降到<pct>", "调暗到<pct>", "灯光调暗些", "不要那么亮", "光线太强了",
        "把{area}<a>{light}调暗<bit>", "{light}太亮了", "把{area}的灯光调暗", "灯太亮了调暗<bit>",
        "亮度降低<pct>", "暗一点吧", "把灯光调柔和一点", "{light}暗<bit>",
    ],
    "HassLightSet+up": [
        "(调亮|调高|亮)<bit>", "把灯调亮[<bit>]", "灯(亮|调亮)<bit>", "{area}<a>灯调亮[<bit>]", "灯光太暗了",
        "{area}的灯太暗了", "灯光不够亮调亮<bit>", "亮度(调高|提高|增加|加大|调大)<bit>", "把{light}调亮[<bit>]",
        "再亮<bit>",
        "亮一些", "调亮到<pct>", "{area}不够亮", "灯光亮<bit>", "把灯开亮一点", "把{area}<a>{light}调亮<bit>",
        "{light}太暗了", "灯太暗了调亮<bit>", "亮度提高到<pct>", "把亮度调高", "{light}亮<bit>", "灯光不够亮",
    ],
    "HassClimateSetTemperature": [
        "(空调|温度|暖气|地暖)<to><deg>", "把{area}<a>{climate}<to><deg>", "{area}温度<to><deg>",
        "(我想要|帮我调到){temperature}度", "温度{temperature}度", "{climate}{temperature}度",
        "把{climate}温度(调到|调成)<deg>", "室温<to><deg>", "空调(制冷|制热){temperature}度", "{temperature}度",
        "把温度<to><deg>", "{area}<a>空调<to><deg>", "空调开到{temperature}度", "把{climate}设成{temperature}度",
        "温度(调高|调低)到<deg>", "{area}要{temperature}度",
    ],
    "HassClimateGetTemperature": [
        "{area}[现在]多少度", "{area}<a>温度是多少", "室内温度多少", "家里多少度", "屋里(多少度|冷不冷|热不热)",
        "现在室内几度", "{climate}(设的|设置的)是多少度", "{climate}现在几度", "{area}(冷吗|热吗|有多热|有多冷)",
        "房间温度多少", "{area}现在几度", "查一下{area}的温度", "室温多少", "{climate}温度是多少", "这里几度",
    ],
    "HassGetState": [
        "{device}(开着吗|关了吗|是开着的吗|还开着吗|关没关)", "{area}<a>灯(开着吗|关了吗|亮着吗)",
        "我(是不是|有没有)忘了关{device}", "{cover}(开着吗|关上了吗|是开着的吗)", "{lock}(锁了吗|锁上了吗|锁好了没有)",
        "{binary_sensor}(关好了吗|开着吗)", "{sensor}(是多少|多少)", "现在{sensor}(是多少|怎么样)", "查一下{sensor}",
        "哪些灯(开着|还亮着)", "{area}有灯开着吗", "家里的门都锁了吗", "{person}(在家吗|到家了吗|在哪里|在哪)",
        "{device}(是什么状态|状态怎么样)", "{area}<a>{light}亮着吗", "{area}<a>{cover}关了吗", "{switch}在运行吗",
        "{media_player}开着吗", "看看{device}关了没有",
    ],
    "HassSetPosition": [
        "{cover}(开到|打开到|调到|拉到|关到)<pos>", "把{area}<a>{cover}(开到|调到|设为)<pos>",
        "{cover}(开|打开|拉开|关|关上){half}", "把{cover}(打开|拉开|关上){half}", "{cover}<to><pos>",
        "把{cover}<to><pos>", "{area}<a>{cover}开{half}", "把{cover}(升|降)到<pos>", "{cover}位置<to><pos>",
    ],
    "HassVacuumStart": [
        "(开始|启动)(扫地|打扫|清扫|清洁)", "开始扫地", "扫[一下]地", "(打扫|清扫|清洁)[一下]<home>",
        "让{vacuum}[开始](扫地|打扫|干活|工作)", "启动{vacuum}", "打开{vacuum}", "{vacuum}(开始|去)(扫地|工作|打扫)",
        "地[太]脏了", "(扫|拖)一下地", "全屋清扫", "开始全屋清扫", "把{vacuum}打开", "{vacuum}开工",
        "叫{vacuum}扫一下", "该扫地了", "{vacuum}出来扫地",
    ],
    "HassVacuumReturnToBase": [
        "{vacuum}回[去]充电", "让{vacuum}回(<dock>|家|去充电)", "{vacuum}(回家|回去|回座|回充)", "(召回|叫回){vacuum}",
        "停止(扫地|清扫)回去充电", "{vacuum}(停下来|别扫了)回去充电", "让{vacuum}(回|返回)<dock>", "回充",
        "{vacuum}返回<dock>", "把{vacuum}叫回来", "{vacuum}没电了回去充电吧", "送{vacuum}回<dock>",
    ],
    "HassVacuumCleanArea": [
        "(打扫|清扫|清洁|扫)[一下]{area}", "把{area}(扫一下|打扫一下|拖一下)",
        "(让|叫){vacuum}[去](打扫|清扫|扫)[一下]{area}",
        "{area}(脏了|太脏了|需要打扫)", "去{area}(扫一下|打扫)", "(扫|拖)一下{area}[的地]", "{vacuum}去{area}",
        "只(打扫|扫){area}", "(打扫|清扫){area}和{area}", "{area}的地(扫一下|脏了)", "用{vacuum}打扫{area}",
    ],
    "HassMediaPause": [
        "暂停[一下]", "(暂停|停止)<play>", "先停一下", "把{media_player}暂停", "暂停{media_player}",
        "{area}<a>音乐暂停", "停一下[音乐]", "音乐停一下", "先暂停", "暂停播放", "{media_player}暂停一下",
        "别放了", "先别放了",
    ],
    "HassMediaUnpause": [
        "继续[播放]", "继续(放|播|播放)", "恢复播放", "接着(放|播|播放|看)", "取消暂停", "{media_player}继续播放",
        "继续放音乐", "接着放刚才的歌", "继续播放{area}<a>音乐", "继续放吧", "接着看",
    ],
    "HassMediaNext": [
        "下一首", "(切|换)[到]下一首", "(换|切)一首", "下一曲", "下一个", "跳过(这首|这首歌|这个)", "播放下一首",
        "{media_player}下一首", "切歌", "换首歌", "下一首歌", "{area}<a>音乐下一首",
    ],
    "HassMediaPrevious": [
        "上一首", "上一曲", "(回到|切到|播放)上一首", "(返回|回)上一首[歌]", "{media_player}上一首", "上一个",
        "放上一首", "上一首歌", "切回上一首", "{area}<a>音乐上一首",
    ],
    "HassSetVolume": [
        "音量<to><vol>", "把音量(调到|设为)<vol>", "{media_player}音量(调到|调成)<vol>", "声音(调到|开到)<vol>",
        "音量{volume}", "把{area}<a>音量调到<vol>", "{media_player}的声音调到<vol>", "音量设置成{volume}",
    ],
}

# Contrasting on/off pairs with every verb, before and after the object, with polite prefixes and particles.
RULES.update({
    "pre": "[(帮我|请|麻烦|麻烦你|请帮我|给我|你帮我|帮忙)]",
    "suf": "[(吧|一下|了|一下吧|哈)]",
    "v_on": "(打开|开|开启|启动|开开)",
    "v_off": "(关|关掉|关闭|关上|停掉|关了)",
    "lamp": "(灯|电灯|灯光|台灯|吊灯|大灯)",
    "where": "[(家里|房间里|屋里|{area}|{area}里)]",
})
TEMPLATES["HassTurnOn"] += [
    "<pre><v_on>[一下]{device}[吧]", "<pre>把{device}<v_on><suf>", "<pre>{area}<a>{device}<v_on><suf>",
    "<pre><v_on>一下{area}<a><lamp>", "<pre>把{area}<a><lamp>(打开|开了|点亮|开开)<suf>", "{area}<lamp>开一下",
    "<pre>点亮{area}<a><lamp>", "<pre>点亮{light}", "<pre><v_on>一下{light}", "<lamp>开一下", "<lamp>打开吧",
    "开一下灯", "开灯吧", "太暗了", "{area}太黑了看不见", "看不见了开(个|下)灯", "黑漆漆的", "我需要点光",
    "把电扇打开", "<pre>把(电扇|风扇|{fan})(打开|开了|开开)<suf>", "<pre>开(电扇|风扇|{fan})[吧]",
    "烧壶水", "<pre>(烧|烧一)壶(水|开水)", "<pre>把(电水壶|热水壶|烧水壶)打开",
    "<pre>启动(洗碗机|洗衣机|烘干机|净化器)",
    "<pre>(开|打开|启动)(热水器|暖气|地暖|加湿器|除湿机|空气净化器)[吧]", "<pre>(开|打开)(电视|音箱|投影仪)[吧]",
    "<pre>(打开|开启)(空调|{climate})[吧]", "<pre>(启动|开启){switch}[吧]", "{switch}(开起来|启动起来|开一下)",
    "<pre>把{media_player}(打开|开起来|开一下)", "<pre>唤醒{media_player}", "<pre>让{device}(开|启动|运行)起来",
    "{area}<lamp>开", "灯开", "开开灯", "灯开了吧", "<pre>把灯(都|全)打开", "所有<lamp>都(打开|开了)",
]
TEMPLATES["HassTurnOff"] += [
    "<pre><v_off>[一下]{device}[吧]", "<pre>把{device}<v_off><suf>", "<pre>{area}<a>{device}<v_off><suf>",
    "<pre>关一下{area}<a><lamp>", "<pre>把{area}<a><lamp>(关了|关掉|熄灭|关上)<suf>", "{area}<lamp>关一下",
    "<pre>熄灭{area}<a><lamp>", "<pre>熄灭{light}", "<pre>关一下{light}", "<lamp>关一下", "<lamp>关了吧",
    "把灯关了", "灯关一下", "关一下卧室的灯", "关灯吧", "<pre>把(电扇|风扇|{fan})(关了|关掉|停了)<suf>",
    "<pre>关(电扇|风扇|{fan})[吧]", "<pre>停掉{switch}[吧]", "<pre>把{switch}(停掉|关了|关掉)",
    "<pre>(关|关掉|关闭)(热水器|暖气|地暖|加湿器|除湿机|空气净化器)[吧]", "<pre>(关|关掉)(电视|音箱|投影仪)[吧]",
    "<pre>(关闭|关掉)(空调|{climate})[吧]", "<pre>把{media_player}(关了|关掉|关上)", "{switch}(停下来|关掉吧)",
    "{area}<lamp>关", "灯关", "灯灭了吧", "<pre>把灯(都|全)关掉", "所有<lamp>都(关了|关掉|熄灭)", "别开灯了",
    "不用开{device}了", "<pre>让{device}停下来",
]
TEMPLATES["HassGetState"] += [
    "{lock}锁了吗", "门锁了吗", "门锁好了吗", "车库门开着吗", "车库门关了吗", "{area}<a><lamp>开着吗", "客厅的灯开着吗",
    "有哪些灯开着", "哪些灯(还开着|是开着的|亮着)", "家里有几盏灯亮着", "<where>有几(盏|个)灯开着", "窗户关了吗",
    "窗户(开着吗|关好了吗|是开着的吗)", "{binary_sensor}(开着吗|关了吗|关好了没)", "<where>有没有灯开着",
    "<where>有什么(开着|在运行)", "{area}有东西开着吗", "{device}[现在]是开着还是关着",
    "{device}(开了没有|关了没有|开着没)", "{switch}(洗完了吗|好了吗|还在运行吗|在工作吗)", "洗碗机(洗完了吗|在运行吗)",
    "{fan}(开着吗|是几档|调到几档了)", "{area}<a>{fan}(开着吗|设置的是什么)", "电视(开着吗|关了吗)",
    "{media_player}(在放吗|开着没有)", "{cover}(拉上了吗|关了吗|开着吗|是开着的吗)", "窗帘(拉上了吗|关了吗)",
    "{area}<a>(湿度|空气质量)(是多少|怎么样)", "{area}湿度多少", "卫生间湿度多少", "{sensor}现在多少",
    "帮我(看看|查查|查一下){device}(开着吗|关了没有|的状态)", "(看一下|查一下){lock}锁没锁", "所有门都锁好了吗",
    "(门|窗)都关好了吗", "{vacuum}(在扫地吗|扫完了吗|回去充电了吗|在干嘛)", "空调开着吗", "暖气开着没有",
    "{area}<a>{light}(开着没|关了没|还亮着吗)", "我出门前关{device}了吗", "家里(还有|有)什么开着",
    "{lock}(是锁着的吗|开着吗)", "家里有人吗", "{person}回来了吗",
]
TEMPLATES["HassVacuumStart"] += [
    "扫一下地", "让扫地机器人开始工作", "开始扫地", "<pre>(扫扫|扫一扫|拖一拖|吸一下)地<suf>", "<pre>打扫一下卫生",
    "<pre>(让|叫){vacuum}(开始|去)(干活|扫地|清扫|打扫)<suf>", "<pre>启动(扫地机器人|扫地机|{vacuum})[吧]",
    "{vacuum}(开始工作|开始清扫|扫一下地|出发)", "<pre>把地(扫一下|吸一下|打扫一下)", "地(好|有点)脏(扫一下吧|了)",
    "<pre>开始(吸尘|全屋打扫|清洁地面)", "该打扫<home>了", "<pre>把<home>(打扫|扫)一遍", "扫地机器人(开工|干活)了",
    "<pre>开(扫地机|扫地机器人)", "<pre>让机器人扫地",
]

# 传感器问句：按 HA binary_sensor 设备类别（电量、充电、连接、漏水、人体、烟雾、燃气、声音、震动、
# 过热、故障、更新）和数值传感器。
RULES.update({
    "bs_kind": "(人体|人在|存在|烟雾|燃气|一氧化碳|漏水|水浸|门窗|门磁|震动|声音|玻璃破碎|温感)(传感器|探测器|报警器)",
    "bs_on": "(触发了吗|被触发了吗|有反应吗|报警了吗|在报警吗|检测到什么了吗|正常吗)",
    "g_state": "(在充电吗|充满了吗|充好电了吗|联网了吗|在线吗|离线了吗|连上了吗|断开了吗|插着电吗|是最新的吗|"
               "过热了吗|很烫吗|湿了吗|漏水了吗|安全吗|在家吗|在运行吗|正常吗|能用吗)",
    "batt": "(电量|电池|电池电量)",
    "batt_state": "(低吗|不足吗|低不低|够吗|还剩多少|是多少|快没了吗|满了吗|没电了吗)",
})
TEMPLATES["HassGetState"] += [
    "{gadget}<a><batt><batt_state>", "{gadget}<g_state>", "{gadget}还有电吗", "{gadget}<a><batt>(怎么样|多少)",
    "(有|有没有)(哪些|什么)(设备|电池|传感器)(电量低|没电了|需要充电|离线了|在充电)",
    "哪些(设备|电池)(电量低|在充电|离线了)",
    "有几个(设备|电池|传感器)(电量低|在充电|离线了|在线)", "所有(设备|电池)都(充满了吗|在线吗|正常吗)",
    "<bs_kind><bs_on>", "{area}<a><bs_kind><bs_on>", "哪些<bs_kind>(触发了|在报警)", "有几个<bs_kind>(触发了|在报警)",
    "{binary_sensor}<bs_on>", "{area}(有人吗|有没有人|没人吧|有人在吗)", "(家里|屋里)有人吗",
    "检测到(有人|烟雾|漏水|燃气泄漏|震动)了吗",
    "{area}(有没有|是不是)(漏水|有烟|有人|有动静)", "{gadget}(有问题吗|有故障吗|有没有问题|有没有故障|报错了吗)",
    "{gadget}(需要|要)更新吗",
    "(有|有没有)(可用的|新的)(更新|固件更新)", "有几个更新", "哪些设备(需要|可以)更新",
    "{sensor}[的值]是多少", "{sensor}(现在|目前)是多少", "查一下{area}<a>{sensor}",
    "{area}<a>{sensor}(多少|是多少|怎么样)",
    "{sensor}(高吗|低吗|正常吗|超标了吗)", "{person}(在哪|在哪里|在哪儿|回来了吗|出门了吗|到家没)",
    "{gadget}在哪[里]", "(大家|全家人|孩子们)都在家吗", "谁在家", "{device}(离线了吗|在线吗|能用吗|正常吗)",
]
