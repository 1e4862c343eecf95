"""Tests for shared/topics.py: builders and parsers round-trip, and ids cannot change a topic's shape."""

from __future__ import annotations

import pytest

from shared.errors import ContractError, TopicError
from shared.topics import (
    DEFAULT_DISCOVERY_PREFIX,
    ROOT,
    DiscoveryTopic,
    EdgeChannel,
    EdgeTopic,
    check_segment,
    discovery_filters,
    discovery_topic,
    edge_filter,
    edge_topic,
    parse_discovery_topic,
    parse_edge_topic,
)

EDGE_IDS = ["gw1", "home-42", "edge_本地", "a" * 128, "gw.1:lab"]
BAD_SEGMENTS = ["", "a/b", "/", "+", "#", "gw+1", "gw#", "gw\x00", "a" * 129]


# --- check_segment ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", EDGE_IDS)
def test_check_segment_accepts_plain_ids(value: str) -> None:
    assert check_segment(value, "edge id") == value


@pytest.mark.parametrize("value", BAD_SEGMENTS)
def test_check_segment_rejects_shape_changing_ids(value: str) -> None:
    with pytest.raises(TopicError) as info:
        check_segment(value, "edge id")
    assert str(info.value).startswith(f"edge id {value!r} is not a valid topic segment")
    assert isinstance(info.value, ContractError)
    assert info.value.code == "bad_topic"


# --- project topics --------------------------------------------------------------------------


def test_edge_topic_layout_matches_the_design() -> None:
    assert edge_topic("gw1", EdgeChannel.TWIN_REPORTED) == "autoglm/v1/edges/gw1/twin/reported"
    assert edge_topic("gw1", EdgeChannel.STATUS) == "autoglm/v1/edges/gw1/status"
    assert ROOT == "autoglm/v1"


def test_channels_are_the_designed_set() -> None:
    assert {c.value for c in EdgeChannel} == {
        "twin/reported", "twin/desired", "twin/delta", "status", "events", "decisions", "models", "utterances",
    }


@pytest.mark.parametrize("channel", list(EdgeChannel))
@pytest.mark.parametrize("edge_id", EDGE_IDS)
def test_edge_topic_round_trip(edge_id: str, channel: EdgeChannel) -> None:
    topic = edge_topic(edge_id, channel)
    assert parse_edge_topic(topic) == EdgeTopic(edge_id, channel)


@pytest.mark.parametrize("edge_id", BAD_SEGMENTS)
def test_edge_topic_rejects_bad_edge_ids(edge_id: str) -> None:
    with pytest.raises(TopicError, match="edge id"):
        edge_topic(edge_id, EdgeChannel.EVENTS)


def test_edge_filter_for_one_edge_and_for_all() -> None:
    assert edge_filter(EdgeChannel.DECISIONS, "gw1") == "autoglm/v1/edges/gw1/decisions"
    assert edge_filter(EdgeChannel.DECISIONS) == "autoglm/v1/edges/+/decisions"


@pytest.mark.parametrize("edge_id", BAD_SEGMENTS)
def test_edge_filter_rejects_bad_edge_ids(edge_id: str) -> None:
    # An empty id must not silently widen the subscription to every edge.
    with pytest.raises(TopicError):
        edge_filter(EdgeChannel.STATUS, edge_id)


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("autoglm/v2/edges/gw1/status", "is not under"),
        ("homeassistant/light/x/config", "is not under"),
        ("autoglm/v1/edges/gw1/unknown", "unknown channel 'unknown'"),
        ("autoglm/v1/edges/gw1/status/", "unknown channel 'status/'"),
        ("autoglm/v1/edges/gw1/twin", "unknown channel 'twin'"),
        ("autoglm/v1/edges/gw1", "unknown channel ''"),
        ("autoglm/v1/edges//status", "edge id ''"),
        ("autoglm/v1/edges/+/status", "edge id '\\+'"),
        ("autoglm/v1/edges/#", "edge id '#'"),
    ],
)
def test_parse_edge_topic_rejects_foreign_topics(topic: str, message: str) -> None:
    with pytest.raises(TopicError, match=message):
        parse_edge_topic(topic)


# --- Home Assistant discovery topics ---------------------------------------------------------


def test_discovery_topic_with_and_without_node_id() -> None:
    assert discovery_topic("light", "lamp") == "homeassistant/light/lamp/config"
    assert discovery_topic("light", "lamp", node_id="z2m") == "homeassistant/light/z2m/lamp/config"
    assert discovery_topic("switch", "plug", prefix="ha") == "ha/switch/plug/config"
    assert DEFAULT_DISCOVERY_PREFIX == "homeassistant"


@pytest.mark.parametrize(
    ("component", "object_id", "node_id"),
    [("light", "0x0017880104e45517", None), ("light", "lamp", "zigbee2mqtt"), ("sensor", "t_1", "tasmota_A0B1C2")],
)
@pytest.mark.parametrize("prefix", ["homeassistant", "ha"])
def test_discovery_topic_round_trip(component: str, object_id: str, node_id: str | None, prefix: str) -> None:
    topic = discovery_topic(component, object_id, node_id=node_id, prefix=prefix)
    assert parse_discovery_topic(topic, prefix=prefix) == DiscoveryTopic(component, node_id, object_id)


@pytest.mark.parametrize(("bad", "what"), [("a/b", "object id"), ("+", "object id"), ("", "object id")])
def test_discovery_topic_rejects_bad_object_ids(bad: str, what: str) -> None:
    with pytest.raises(TopicError, match=what):
        discovery_topic("light", bad)


@pytest.mark.parametrize("bad", ["a/b", "#", "x+y"])
def test_discovery_topic_rejects_bad_components_and_node_ids(bad: str) -> None:
    with pytest.raises(TopicError, match="component"):
        discovery_topic(bad, "lamp")
    with pytest.raises(TopicError, match="node id"):
        discovery_topic("light", "lamp", node_id=bad)


def test_discovery_filters_cover_both_layouts() -> None:
    assert discovery_filters() == ("homeassistant/+/+/config", "homeassistant/+/+/+/config")
    assert discovery_filters("ha") == ("ha/+/+/config", "ha/+/+/+/config")


@pytest.mark.parametrize(
    "topic",
    [
        "homeassistant/light/config",
        "homeassistant/light/a/b/c/config",
        "homeassistant/light/lamp/state",
        "other/light/lamp/config",
        "homeassistant/light//config",
        "homeassistant//lamp/config",
        "homeassistant/light/+/config",
        "homeassistant/light/#/lamp/config",
        "",
    ],
)
def test_parse_discovery_topic_rejects_other_topics(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_discovery_topic(topic)


def test_parse_discovery_topic_honours_custom_prefix() -> None:
    with pytest.raises(TopicError, match="under 'ha'"):
        parse_discovery_topic("homeassistant/light/lamp/config", prefix="ha")
