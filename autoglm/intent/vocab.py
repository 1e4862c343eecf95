"""Slot vocabularies (device names by domain, areas, floors, colours, people) in English and Chinese."""

from __future__ import annotations

import random


def word_list(text: str) -> tuple[str, ...]:
    """One entry per line or comma: keeps the long lists below readable."""
    return tuple(w.strip() for line in text.strip().splitlines() for w in line.split(",") if w.strip())


#: Device names by Home Assistant domain. Names carry no area ("kitchen light" is area + light word)
#: and no bare light quantifier ("lights"), matching how the evaluation tags slots.
NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "light": word_list("""
            ceiling light, floor lamp, bedside lamp, desk lamp, table lamp, reading light, reading lamp, led strip,
            light strip, lightstrip, fairy lights, string lights, christmas lights, night light, pendant light,
            chandelier, spotlights, downlights, wall light, wall lamp, porch light, path lights, flood light,
            security light, under cabinet lights, island lights, vanity light, mirror light, hue bulb, hue go,
            smart bulb, tv backlight, accent light, mood light, lava lamp, salt lamp, arc lamp, tripod lamp,
            globe light, corner lamp, piano lamp, stair lights, closet light, patio lights, deck lights, pool light,
            cabinet lights, shelf lights, headboard light, nightstand lamp, study lamp, lantern, wall sconce,
            sconces, track lights, recessed lights, overhead light, main light, big light, ambient light,
            gaming lights, monitor light bar, aquarium light, grow light, uplighter, sofa lamp, couch lamp,
            window light, dining table light, nanoleaf panels, hexagon lights, light bar, play bars, govee strip,
            wiz bulb, tradfri bulb, left lamp, right lamp, lamp one, lamp two, bulb one, star projector,
            sunrise lamp, moon lamp, neon sign, bookshelf light, counter lights, kickboard lights, cove lights,
            pantry light, laundry light, mantel lights, tree lights, bed lights, makeup light, ring light,
            ceiling fan light, pool lights, fountain light, garden lamp, bollard lights, lamp post, hue lights,
            hue lamp, philips hue, hue bulbs, smart lights, living colors lamp, outdoor lights, outdoor light,
            outside lights, outside light, exterior lights, garden lights, front lights, back lights, yard lights,
            driveway lights, landscape lights, outdoor string lights, porch lamp, garage light""")
        ,
        "switch": word_list("""
            coffee machine, coffee maker, espresso machine, kettle, electric kettle, toaster, rice cooker,
            slow cooker, air fryer, dishwasher, washing machine, washer, dryer, tumble dryer, water heater,
            immersion heater, heater, space heater, electric blanket, heated blanket, towel warmer, towel rail,
            dehumidifier, humidifier, air purifier, diffuser, oil diffuser, christmas tree, fountain, pond pump,
            pool pump, sprinklers, garden sprinkler, hot tub, sauna, smart plug, plug, socket, outlet,
            power strip, charger, phone charger, ev charger, car charger, printer, computer, pc, monitor,
            game console, playstation, xbox, iron, aquarium pump, fish tank heater, heated floor, fireplace,
            electric fireplace, mosquito repeller, bread maker, wine cooler, ice maker, blender, milk frother,
            waffle maker, sandwich maker, popcorn machine, towel heater, bathroom heater, radiant heater,
            patio heater, oil heater, hot water, water pump, irrigation, garden pump, fridge plug, freezer,
            mini fridge, beer fridge, bottle warmer, sterilizer, white noise machine, massage chair, treadmill,
            exercise bike, desk plug, lamp plug, tv plug, heat lamp, tea maker, soda maker, egg cooker,
            instant pot, pressure cooker, oven, stove fan, bidet, heated seat, dog fountain, cat feeder, wemo,
            wemo plug, wemo switch, wemo socket, smart socket, wall socket, power socket, switch one, plug two""")
        ,
        "fan": word_list("""
            fan, ceiling fan, desk fan, tower fan, pedestal fan, box fan, standing fan, bathroom fan,
            extractor fan, exhaust fan, attic fan, range hood, dyson, dyson fan, air circulator, window fan,
            floor fan, table fan, bladeless fan, kitchen extractor, vent fan, ventilation, air vent,
            cooling fan, oscillating fan, big fan, little fan, whole house fan""")
        ,
        "media_player": word_list("""
            tv, television, telly, smart tv, apple tv, chromecast, fire stick, fire tv, roku, soundbar, speaker,
            smart speaker, sonos, sonos one, sonos beam, homepod, echo, echo dot, google home, nest mini,
            nest hub, stereo, hifi, amplifier, receiver, av receiver, turntable, record player, projector,
            home theater, home cinema, media player, kodi, plex, bluetooth speaker, subwoofer, jukebox,
            shield, android tv, samsung tv, lg tv, bose speaker, boombox, music system, sound system,
            cd player, tablet, ipad""")
        ,
        "climate": word_list("""
            thermostat, heating, ac, air con, air conditioner, air conditioning, aircon, heat pump, nest,
            nest thermostat, ecobee, hvac, radiator, underfloor heating, floor heating, central heating,
            mini split, climate, tado, hive, cooling, heater, wall heater, split unit, portable ac,
            radiator valve, boiler""")
        ,
        "cover": word_list("""
            blinds, curtains, shades, shutters, roller shutters, roller blind, roller blinds, venetian blinds,
            roman blinds, drapes, awning, garage door, gate, driveway gate, skylight, window, roof window,
            velux, sunshade, blackout blinds, blackout curtains, sheer curtains, pergola, canopy,
            window blinds, patio blinds, solar shades, rolling shutter, garage, side gate, cat flap,
            roller door, louvres, sun blind, bay window blinds, french doors, blind, curtain, shade, shutter""")
        ,
        "vacuum": word_list("""
            vacuum, robot vacuum, vacuum cleaner, robot vacuum cleaner, roomba, robot, robo vac, robovac,
            deebot, roborock, eufy, hoover, mop, robot mop, braava, dreame, neato, shark, cleaning robot,
            robot cleaner, bot, dusty, rosie, henry, wall e, vacuum robot, robotic vacuum, mopping robot,
            roomba i7, roborock s7""")
        ,
        "lock": word_list("""
            front door, back door, front door lock, back door lock, side door, deadbolt, patio door, door lock,
            smart lock, gate lock, shed lock, garage side door, main door, entrance door, porch door,
            basement door, office door, yale lock, august lock, nuki, sliding door, cellar door""")
        ,
        "scene": word_list("""
            movie night, movie time, party mode, good night, goodnight, good morning, romantic, dinner,
            dinner time, reading, relax, relax mode, focus, bedtime, wake up, away mode, cinema, gaming,
            christmas, date night, chill, energize, concentrate, sunset, tropical twilight, arctic aurora,
            cozy evening, morning light, dinner party, bright, dimmed, nightlight, home cinema mode, tv time""")
        ,
        "script": word_list("""
            morning routine, bedtime routine, leaving home, welcome home, lock up, wake up routine,
            good night routine, house party, feed the cat, water the plants, holiday lights, alarm check""")
        ,
        "input_boolean": word_list("guest mode, vacation mode, holiday mode, quiet mode, party switch, away switch"),
        "button": word_list("doorbell, restart router, reboot modem, identify, ring chime, reset filter"),
        "valve": word_list("""
            water valve, main water valve, gas valve, irrigation valve, sprinkler valve, garden tap, water main,
            radiator valve, hose tap, water shutoff""")
        ,
        "sensor": word_list("""
            humidity, indoor humidity, co2 level, air quality, power consumption, energy usage, solar production,
            battery level, phone battery, freezer temperature, fridge temperature, water tank level,
            pool temperature, hot tub temperature, water heater temperature, washing machine status,
            dishwasher status, printer ink level, internet speed, electricity price, noise level, light level,
            illuminance, car battery, car range, ev charge, power usage, grid usage, gas usage, water usage,
            indoor temperature, aquarium temperature, soil moisture, plant moisture, radon level,
            outside temperature, outdoor temperature, outside humidity, outdoor humidity, garden temperature,
            garage temperature, attic temperature, basement humidity, wind speed sensor, rain gauge, uv index,
            pm2.5 level, tvoc level, voltage, current draw, phone battery level, tablet battery, door battery,
            boiler pressure, oil tank level, pressure""")
        ,
        "binary_sensor": word_list("""
            front door, back door, patio door, window, bedroom window, kitchen window, letterbox, mailbox,
            water leak sensor, smoke detector, fridge door, freezer door, skylight, motion sensor,
            hallway motion, driveway motion, garage door sensor, gate sensor, balcony door, cat flap,
            leak sensor, kitchen leak sensor, washer leak sensor, flood sensor, occupancy sensor, presence sensor,
            bathroom motion, doorbell motion, vibration sensor, glass break sensor, co detector,
            carbon monoxide detector, gas detector, heat detector, freeze sensor, rain sensor, door contact,
            window contact, bed sensor, chair sensor, tamper sensor, sump pump alarm""")
        ,
        "person": word_list("""
            john, sarah, mom, dad, emma, liam, olivia, noah, james, sophia, grandma, grandpa, mike, lisa, tom,
            anna, david, kate, chris, jessica, ben, lucy, alex, maria, daniel, sam, jack, amy, paul, nina,
            robert, michael, william, elizabeth, jennifer, linda, patricia, thomas, charles, joe, matthew,
            andrew, joshua, ryan, nathan, peter, george, henry, oliver, charlotte, mia, harper, ella, grace,
            zoe, hannah, leo, lucas, ethan, mason, logan, isabella, ava, chloe, rachel, laura, susan, karen,
            mark, steven, kevin, brian, jason, eric, adam, luke, sean, carlos, sofia, mohammed, ahmed, priya,
            raj, wei, yuki, hans, pierre, the kids, my wife, my husband, my son, my daughter""")
        ,
        # Things with batteries, connections and updates that HA tracks as sensors ("is the phone charging").
        "gadget": word_list("""
            phone, my phone, iphone, android phone, tablet, ipad, laptop, macbook, watch, smartwatch, apple watch,
            car, tesla, electric car, e-bike, scooter, doorbell, video doorbell, remote, tv remote, key fob,
            pet feeder, cat feeder, robot mower, lawn mower, headphones, earbuds, kindle, e-reader, camera,
            security camera, router, printer, thermostat, smoke alarm, door sensor, window sensor, motion sensor,
            leak sensor, weather station, game controller, controller, toothbrush, drone, baby monitor, hub,
            bridge, zigbee hub, nas, server""")
        ,
    },
    "zh-cn": {
        "light": word_list("""
            吸顶灯, 台灯, 落地灯, 床头灯, 灯带, 氛围灯, 筒灯, 射灯, 吊灯, 壁灯, 夜灯, 小夜灯, 阅读灯, 镜前灯,
            水晶灯, 主灯, 顶灯, 灯泡, 智能灯泡, 彩灯, 装饰灯, 灯串, 圣诞灯, 护眼灯, 书桌灯, 庭院灯, 门廊灯,
            楼梯灯, 衣柜灯, 橱柜灯, 感应灯, 投光灯, 月亮灯, 盐灯, LED灯带, 电视背景灯, 天花灯, 轨道灯,
            吊扇灯, 落地台灯, 灯笼, 星空灯, 床底灯, 踢脚线灯, 大灯, 小灯, 围栏灯, 草坪灯, 餐吊灯, 书架灯,
            镜柜灯, 化妆灯, 补光灯, 植物灯, 鱼缸灯, 氛围灯带, 无主灯, 磁吸灯, 格栅灯, 面板灯, 线条灯""")
        ,
        "switch": word_list("""
            咖啡机, 电水壶, 热水壶, 烧水壶, 饮水机, 电饭煲, 电饭锅, 电压力锅, 空气炸锅, 微波炉, 烤箱, 面包机,
            豆浆机, 破壁机, 榨汁机, 洗碗机, 洗衣机, 烘干机, 干衣机, 热水器, 电热水器, 暖风机, 取暖器, 电暖器,
            电热毯, 加湿器, 除湿机, 空气净化器, 净水器, 香薰机, 鱼缸, 鱼缸加热棒, 水泵, 浇花器, 插座,
            智能插座, 排插, 插线板, 充电器, 电脑, 显示器, 路由器, 打印机, 游戏机, 浴霸, 灭蚊灯, 消毒柜,
            酒柜, 养生壶, 电炖锅, 煮蛋器, 制冰机, 挂烫机, 电熨斗, 智能马桶, 足浴盆, 按摩椅, 跑步机,
            电烤炉, 电陶炉, 电磁炉, 即热饮水机, 毛巾架, 暖气扇, 油汀, 小太阳, 电热水袋, 茶吧机, 蒸箱,
            洗地机, 衣物护理机, 宠物喂食器, 饮水器, 循环泵, 电动晾衣架""")
        ,
        "fan": word_list("""
            风扇, 电风扇, 电扇, 吊扇, 落地扇, 台扇, 塔扇, 空气循环扇, 排风扇, 换气扇, 排气扇, 无叶风扇,
            戴森风扇, 小风扇, 壁扇, 油烟机, 抽油烟机, 循环扇, 新风机, 吸顶扇""")
        ,
        "media_player": word_list("""
            电视, 电视机, 智能电视, 投影仪, 投影, 音箱, 智能音箱, 蓝牙音箱, 音响, 回音壁, 功放, 机顶盒,
            电视盒子, 小米电视, 家庭影院, 播放器, 唱片机, 平板, 索尼电视, 海信电视,
            HomePod, Sonos音箱, 低音炮, 广播音箱, 背景音乐""")
        ,
        "climate": word_list("""
            空调, 中央空调, 地暖, 暖气, 温控器, 恒温器, 新风系统, 挂机, 柜机, 立式空调, 暖气片, 壁挂炉,
            空气源热泵, 热泵, 格力空调, 美的空调, 风管机, 冷暖空调, 移动空调, 地暖温控""")
        ,
        "cover": word_list("""
            窗帘, 纱帘, 遮光帘, 布帘, 百叶窗, 百叶帘, 卷帘, 卷帘门, 电动窗帘, 天窗, 车库门, 大门, 院门,
            庭院门, 遮阳棚, 遮阳帘, 窗户, 晾衣架, 升降晾衣架, 罗马帘, 蜂巢帘, 推窗器, 电动窗, 窗纱, 卷闸门,
            天幕, 遮阳伞, 开窗器""")
        ,
        "vacuum": word_list("""
            扫地机器人, 扫地机, 扫地机器, 吸尘器, 机器人, 扫拖机器人, 拖地机器人, 石头扫地机, 科沃斯, 米家扫地机,
            追觅, 云鲸, 小扫, 扫地宝, 扫拖一体机, 自动吸尘器, 智能扫地机, 地宝""")
        ,
        "lock": word_list("""
            门锁, 大门锁, 智能门锁, 前门, 后门, 防盗门, 入户门, 侧门, 指纹锁, 密码锁, 院门锁, 车库侧门,
            阳台门, 房门, 家门""")
        ,
        "scene": word_list("""
            回家模式, 离家模式, 睡眠模式, 观影模式, 影院模式, 会客模式, 起床模式, 晚安模式, 阅读模式,
            派对模式, 浪漫模式, 用餐模式, 就餐模式, 工作模式, 休息模式, 度假模式, 游戏模式, 烛光晚餐""")
        ,
        "script": word_list("早安流程, 晚安流程, 离家脚本, 回家脚本, 浇花程序, 喂猫程序, 起床程序"),
        "input_boolean": word_list("访客模式, 度假开关, 安静模式, 勿扰模式开关"),
        "button": word_list("门铃, 重启路由器, 复位按钮, 滤网重置"),
        "valve": word_list("水阀, 总水阀, 燃气阀, 浇水阀, 灌溉阀, 进水阀, 地暖阀门, 水龙头阀门"),
        "sensor": word_list("""
            室内温度, 湿度, 空气质量, 二氧化碳浓度, 用电量, 耗电量, 功率, 电池电量, 冰箱温度, 水温, 鱼缸水温,
            光照度, 噪音, 甲醛浓度, 电费, 水箱水位, 土壤湿度, 太阳能发电量, 网速, 室内湿度, 室外温度, 室外湿度,
            外面温度, 花园温度, 车库温度, PM2.5, 紫外线指数, 风速, 雨量, 电压, 水压, 燃气用量""")
        ,
        "binary_sensor": word_list("""
            前门, 大门, 窗户, 门磁, 人体传感器, 水浸传感器, 烟雾报警器, 信箱, 冰箱门, 阳台门, 车库门,
            天窗, 后门, 卫生间门, 漏水传感器, 厨房漏水传感器, 燃气报警器, 一氧化碳报警器, 存在传感器,
            人在传感器, 震动传感器, 玻璃破碎传感器, 门窗传感器, 床垫传感器, 温感报警器""")
        ,
        "person": word_list("""
            妈妈, 爸爸, 老婆, 老公, 儿子, 女儿, 小明, 小红, 爷爷, 奶奶, 张伟, 李娜, 王芳, 哥哥, 姐姐, 外婆,
            小李, 老王, 阿姨, 宝宝, 小张, 小王, 小刘, 老李, 老张, 刘洋, 王磊, 陈静, 李强, 赵敏, 孩子们,
            弟弟, 妹妹, 外公, 叔叔, 舅舅""")
        ,
        "gadget": word_list("""
            手机, 我的手机, 平板, 平板电脑, 笔记本, 笔记本电脑, 手表, 智能手表, 汽车, 电动车, 电瓶车, 门铃,
            可视门铃, 遥控器, 喂食器, 猫粮机, 割草机, 耳机, 摄像头, 监控摄像头, 路由器, 打印机, 温控器,
            烟雾报警器, 门磁, 人体传感器, 网关, 扫地机, 电动牙刷, 无人机, 婴儿监视器""")
        ,
    },
}

AREAS: dict[str, tuple[str, ...]] = {
    "en": word_list("""
        living room, lounge, family room, den, kitchen, dining room, bedroom, master bedroom, main bedroom,
        guest bedroom, guest room, spare room, kids room, kid's room, children's room, nursery, playroom,
        bathroom, master bathroom, en suite, ensuite, downstairs bathroom, toilet, powder room, shower room,
        hallway, hall, corridor, landing, stairs, staircase, entryway, entrance, foyer, porch, front porch,
        back porch, patio, deck, balcony, terrace, garden, backyard, back garden, front garden, front yard, yard,
        driveway, garage, shed, workshop, outdoor, outdoors, outside, exterior, front of the house,
        back of the house, lawn, courtyard, carport, side yard, basement, cellar, attic, loft, office, home office,
        study, library,
        gym, home gym, laundry room, laundry, utility room, pantry, closet, walk in closet, sunroom,
        conservatory, game room, games room, media room, cinema room, tv room, music room, bar, man cave,
        pool house, guest house, studio, emma's room, jack's room, sophie's room, baby's room, upstairs hallway,
        downstairs hall, back room, front room, sitting room, mudroom, boot room, breakfast nook, craft room,
        sewing room, dressing room, bed room, living area, kitchenette, nursery room, teen room, granny flat""")
    ,
    "zh-cn": word_list("""
        客厅, 起居室, 厨房, 卧室, 主卧, 次卧, 客卧, 客房, 儿童房, 婴儿房, 书房, 卫生间, 洗手间, 浴室, 厕所,
        主卫, 次卫, 阳台, 大阳台, 生活阳台, 餐厅, 饭厅, 走廊, 过道, 玄关, 门厅, 车库, 花园, 院子, 庭院,
        露台, 地下室, 阁楼, 衣帽间, 储物间, 杂物间, 洗衣房, 影音室, 健身房, 茶室, 办公室, 工作室, 楼梯,
        楼梯间, 前院, 后院, 小孩房, 老人房, 父母房, 保姆房, 游戏室, 琴房, 客餐厅, 南卧, 北卧, 西厨, 中厨,
        入户花园, 休闲区, 多功能房, 宝宝房, 男孩房, 女孩房, 主卧室, 次卧室, 书房间, 小房间, 大房间""")
    ,
}

FLOORS: dict[str, tuple[str, ...]] = {
    "en": word_list("""
        upstairs, downstairs, ground floor, first floor, second floor, third floor, top floor, main floor,
        upper floor, lower floor, basement level, lower level, upper level"""),
    # HA's zh templates add 楼/层 after {floor}; these values read right with or without it.
    "zh-cn": word_list("一楼, 二楼, 三楼, 四楼, 一层, 二层, 三层, 楼上, 楼下, 顶楼, 负一楼"),
}

COLORS: dict[str, tuple[str, ...]] = {
    "en": word_list("""
        red, green, blue, yellow, orange, purple, pink, white, warm white, cool white, cyan, magenta, violet,
        lavender, lilac, teal, turquoise, aqua, lime, lime green, dark green, forest green, mint, navy,
        navy blue, sky blue, light blue, baby blue, royal blue, dark blue, indigo, gold, golden, amber, peach,
        coral, salmon, crimson, scarlet, maroon, burgundy, rose, hot pink, fuchsia, beige, cream, brown,
        warm yellow, soft white, bright white, emerald, plum, mauve, tangerine, light green, dark red,
        deep purple, ocean blue, pale pink, light pink, ivory, sea green, olive, silver, rainbow""")
    ,
    "zh-cn": word_list("""
        红色, 红, 绿色, 绿, 蓝色, 蓝, 黄色, 黄, 橙色, 紫色, 紫, 粉色, 粉红色, 白色, 白, 暖白色, 暖白, 冷白色,
        青色, 天蓝色, 浅蓝色, 深蓝色, 金色, 琥珀色, 玫红色, 洋红色, 紫红色, 薄荷绿, 草绿色, 湖蓝色, 藏青色,
        米色, 酒红色, 桃红色, 橘色, 橘黄色, 柠檬黄, 宝蓝色, 墨绿色, 淡紫色, 浅绿色, 深红色, 暖黄色, 浅粉色,
        象牙白, 银色, 棕色, 咖啡色""")
    ,
}

#: Where people are ("is mom at work").
ZONES: dict[str, tuple[str, ...]] = {
    "en": word_list("work, school, the office, the gym, home, grandma's, the shop, the store, college, the park"),
    "zh-cn": word_list("公司, 学校, 家, 健身房, 办公室, 医院, 超市, 单位, 奶奶家, 公园"),
}

#: Drinks that stand for "turn on the coffee machine"; tagged as the name the runtime resolves.
DRINKS: dict[str, tuple[str, ...]] = {
    "en": word_list("""
        coffee, espresso, latte, cappuccino, flat white, americano, double espresso, macchiato, mocha,
        cup of coffee, black coffee, iced coffee, cortado, lungo, ristretto"""),
    "zh-cn": word_list("咖啡, 美式, 拿铁, 卡布奇诺, 浓缩咖啡, 意式浓缩, 美式咖啡, 拿铁咖啡, 摩卡, 黑咖啡, 澳白"),
}

#: "Halfway" as a position, parsed as 50 by the runtime.
HALF: dict[str, tuple[str, ...]] = {"en": ("halfway", "half way", "half"), "zh-cn": ("一半",)}

#: Domains `{name}` may come from in our own templates for on/off commands.
ON_OFF_DOMAINS: tuple[str, ...] = ("light", "switch", "fan", "media_player", "climate")


def pick(rng: random.Random, items: tuple[str, ...]) -> str:
    """One item, uniformly."""
    return items[rng.randrange(len(items))]


def name(language: str, domain: str, rng: random.Random) -> str:
    """A device name of `domain` in `language`."""
    return pick(rng, NAMES[language][domain])
