"""Client side of `autoglm edge say`: publish an utterance to an edge and wait for its decision."""

from __future__ import annotations

import queue
import uuid
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.io.mqtt import no_delay
from shared.codec import decode, encode
from shared.decision import Decision, Outcome, Utterance
from shared.envelope import Envelope
from shared.errors import PayloadError, TransportError
from shared.topics import EdgeChannel, edge_topic


def say(text: str, *, edge_id: str, host: str, port: int, language: str | None = None,
        timeout: float = 10.0, confirmed: bool = False, area: str | None = None, user: str | None = None,
        confirm_token: str | None = None, username: str | None = None, password: str | None = None) -> Decision:
    """Send `text` to the edge and return its decision record (`confirm_token`: go ahead with a held request).

    `confirmed` answers a held request's confirmation at once: the edge holds a sensitive request and answers
    with a single-use token (the wire cannot say "confirmed" itself), which is sent straight back.
    """
    login = (username, password) if username else None
    decision = _say(text, edge_id=edge_id, host=host, port=port, language=language, timeout=timeout, area=area,
                    user=user, confirm_token=confirm_token, login=login)
    if confirmed and decision.outcome is Outcome.NEEDS_CONFIRMATION and decision.confirm_token is not None:
        decision = _say(text, edge_id=edge_id, host=host, port=port, language=language, timeout=timeout, area=area,
                        user=user, confirm_token=decision.confirm_token, login=login)
    return decision


def _say(text: str, *, edge_id: str, host: str, port: int, language: str | None, timeout: float,
         area: str | None, user: str | None, confirm_token: str | None,
         login: tuple[str, str | None] | None = None) -> Decision:
    utterance = Utterance(text=text, language=language, source="cli", area=area, user=user,
                          confirm_token=confirm_token)
    envelope = Envelope(trace_id=utterance.trace_id, source="cli", type="utterance",
                        payload=utterance.model_dump(mode="json", exclude_none=True))
    answers: queue.Queue[Decision] = queue.Queue()
    subscribed: queue.Queue[str | None] = queue.Queue()  # None: subscribed; text: why the broker refused
    decisions = edge_topic(edge_id, EdgeChannel.DECISIONS)

    def on_connect(client: paho.Client, _u: Any, _f: Any, reason: Any, *_: Any) -> None:
        if reason.is_failure:
            subscribed.put(f"the broker at {host}:{port} refused the connection ({reason}); pass --username and "
                           "--password (or OPEN_AUTOGLM_MQTT_USERNAME/_PASSWORD) for a broker with logins")
            return
        client.subscribe(decisions, qos=1)

    def on_subscribe(*_: Any) -> None:
        subscribed.put(None)

    def on_message(_c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            decision = Decision.model_validate(decode(Envelope, bytes(msg.payload)).payload)
        except (PayloadError, ValueError):
            return
        if decision.utterance_id == utterance.id:
            answers.put(decision)

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"autoglm-say-{uuid.uuid4().hex[:8]}")
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.on_socket_open = no_delay
    if login is not None:
        client.username_pw_set(*login)
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise TransportError(f"cannot reach the MQTT broker at {host}:{port} ({exc}); is the edge's broker "
                             "running?") from None
    client.loop_start()
    try:
        try:
            refused = subscribed.get(timeout=timeout)
        except queue.Empty:
            raise TransportError(f"the broker at {host}:{port} did not accept a subscription") from None
        if refused is not None:
            raise TransportError(refused)
        client.publish(edge_topic(edge_id, EdgeChannel.UTTERANCES), encode(envelope), qos=1).wait_for_publish(
            timeout)
        try:
            return answers.get(timeout=timeout)
        except queue.Empty:
            raise TransportError(f"edge {edge_id!r} did not answer within {timeout:g}s; is `autoglm edge run` "
                                 "running with that edge id?") from None
    finally:
        client.disconnect()
        client.loop_stop()
