"""Every MQTT topic the project uses is built and parsed here, and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.errors import TopicError

#: Home Assistant's default discovery prefix.
DEFAULT_DISCOVERY_PREFIX = "homeassistant"
#: Root of the project's own topics; the version segment changes only with an incompatible contract.
ROOT = "autoglm/v1"

_FORBIDDEN = frozenset("+#/\x00")


def check_segment(value: str, what: str) -> str:
    """Refuse ids that would change a topic's shape (wildcards, separators, empty)."""
    if not value or any(ch in _FORBIDDEN for ch in value) or len(value) > 128:
        raise TopicError(f"{what} {value!r} is not a valid topic segment (non-empty, <=128 chars, no + # /)")
    return value


class EdgeChannel(StrEnum):
    """Channels under `autoglm/v1/edges/<edge_id>/`."""

    TWIN_REPORTED = "twin/reported"
    TWIN_DESIRED = "twin/desired"
    TWIN_DELTA = "twin/delta"
    STATUS = "status"
    EVENTS = "events"
    DECISIONS = "decisions"
    MODELS = "models"
    UTTERANCES = "utterances"


@dataclass(frozen=True, slots=True)
class EdgeTopic:
    """A parsed project topic."""

    edge_id: str
    channel: EdgeChannel


def edge_topic(edge_id: str, channel: EdgeChannel) -> str:
    """`autoglm/v1/edges/<edge_id>/<channel>`."""
    return f"{ROOT}/edges/{check_segment(edge_id, 'edge id')}/{channel.value}"


def edge_filter(channel: EdgeChannel, edge_id: str | None = None) -> str:
    """Subscription filter for one channel of one edge, or of every edge when `edge_id` is None."""
    return f"{ROOT}/edges/{check_segment(edge_id, 'edge id') if edge_id is not None else '+'}/{channel.value}"


def parse_edge_topic(topic: str) -> EdgeTopic:
    """Split a project topic into edge id and channel."""
    prefix = f"{ROOT}/edges/"
    if not topic.startswith(prefix):
        raise TopicError(f"topic {topic!r} is not under {prefix}")
    edge_id, _, rest = topic[len(prefix) :].partition("/")
    check_segment(edge_id, "edge id")
    try:
        return EdgeTopic(edge_id, EdgeChannel(rest))
    except ValueError:
        raise TopicError(f"topic {topic!r} has unknown channel {rest!r}") from None


@dataclass(frozen=True, slots=True)
class DiscoveryTopic:
    """`<prefix>/<component>/[<node_id>/]<object_id>/config` split into its parts."""

    component: str
    node_id: str | None
    object_id: str


def discovery_topic(
    component: str, object_id: str, node_id: str | None = None, prefix: str = DEFAULT_DISCOVERY_PREFIX
) -> str:
    """Build a Home Assistant discovery config topic."""
    parts = [prefix, check_segment(component, "component")]
    if node_id:
        parts.append(check_segment(node_id, "node id"))
    parts += [check_segment(object_id, "object id"), "config"]
    return "/".join(parts)


def discovery_filters(prefix: str = DEFAULT_DISCOVERY_PREFIX) -> tuple[str, str]:
    """Subscription filters that match discovery topics with and without a node id."""
    return f"{prefix}/+/+/config", f"{prefix}/+/+/+/config"


def parse_discovery_topic(topic: str, prefix: str = DEFAULT_DISCOVERY_PREFIX) -> DiscoveryTopic:
    """Parse a discovery topic; raises TopicError for anything else."""
    parts = topic.split("/")
    if parts[0] != prefix or parts[-1] != "config" or len(parts) not in (4, 5):
        raise TopicError(f"topic {topic!r} is not a discovery topic under {prefix!r}")
    for part in parts[1:-1]:
        check_segment(part, "discovery segment")
    if len(parts) == 4:
        return DiscoveryTopic(parts[1], None, parts[2])
    return DiscoveryTopic(parts[1], parts[2], parts[3])
