"""RabbitMQ: hand confirmed readings to billing, and know which ones the broker has.

One connection and one confirm-mode channel per run (`BillingPublisher.session`); a batch is
published with asynchronous publisher confirms (a window of messages in flight, acks taken as
they come, `multiple` acks included), so a backlog drains at broker speed rather than one
round trip per message.

What each outcome means for a message:

- confirmed: the broker acked it and did not return it; it sits in a durable queue (billing's,
  or the `<exchange>.unrouted` queue when billing has none bound);
- refused: nacked, or returned as unroutable even by the alternate exchange; retrying the same
  message will not help;
- unconfirmed: the connection failed or the time ran out before the broker said anything;
  it may or may not have arrived, so it is published again later (billing drops the copy by
  ``message_id``).

Failures of the session itself are `BrokerUnavailable` (the network or the broker is down:
worth retrying) or `BrokerMisconfigured` (the broker closed our channel, e.g. PRECONDITION_FAILED
because the exchange exists with another type: retrying will not help until ops fix it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pika
from pika.exceptions import AMQPError, ChannelClosedByBroker, ChannelClosedByClient

from meter_reading.domain.contract import CONTENT_TYPE, ROUTING_KEY, SCHEMA

APP_ID = "meter-reading"


class BrokerError(Exception):
    """The broker did not take the messages handed to it."""


class BrokerUnavailable(BrokerError):
    """The broker could not be reached or went away; worth retrying later."""


class BrokerMisconfigured(BrokerError):
    """The broker closed our channel (wrong exchange type, missing permission, ...).

    Not an outage: the same publish fails the same way until someone changes the broker.
    """


class PublishNotConfirmed(BrokerError):
    """The broker refused the message (nack) or could not route it anywhere."""


def unrouted_name(exchange: str) -> str:
    """The alternate exchange, and the durable queue behind it, for `exchange`."""
    return f"{exchange}.unrouted"


@dataclass(frozen=True)
class Declaration:
    """One AMQP declaration, as keyword arguments shared by pika's blocking and async channels."""

    method: str
    arguments: dict[str, Any]


def billing_topology(exchange: str) -> list[Declaration]:
    """What the billing exchange needs, in order: the safety net first, then the exchange.

    A message no billing queue is bound for goes to the alternate exchange, whose durable
    queue keeps it (persistent) until billing or ops take it; without it the broker would
    drop it, or return it and leave us nothing to do but keep retrying.
    """
    unrouted = unrouted_name(exchange)
    return [
        Declaration(
            "exchange_declare", {"exchange": unrouted, "exchange_type": "fanout", "durable": True}
        ),
        Declaration("queue_declare", {"queue": unrouted, "durable": True}),
        Declaration("queue_bind", {"queue": unrouted, "exchange": unrouted}),
        Declaration(
            "exchange_declare",
            {
                "exchange": exchange,
                "exchange_type": "topic",
                "durable": True,
                "arguments": {"alternate-exchange": unrouted},
            },
        ),
    ]


def declare_billing_topology(channel: Any, exchange: str) -> None:
    """Declare the billing exchange on a blocking channel (consumers, tools, tests).

    Everyone who declares the exchange must declare it this way: RabbitMQ refuses a second
    declaration with other arguments (PRECONDITION_FAILED).
    """
    for declaration in billing_topology(exchange):
        getattr(channel, declaration.method)(**declaration.arguments)


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str
    body: str


@dataclass
class PublishResult:
    confirmed: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # message id -> why
    unconfirmed: list[str] = field(default_factory=list)
    # Why the batch stopped early (then every message not confirmed or refused is unconfirmed).
    failure: BrokerError | None = None


class PublishSession:
    """One connection, one confirm-mode channel, the topology declared once; not thread-safe."""

    def __init__(self, parameters: pika.URLParameters, exchange: str, max_in_flight: int) -> None:
        self._parameters = parameters
        self._exchange = exchange
        self._max_in_flight = max_in_flight
        self._connection: Any = None
        self._channel: Any = None
        self._ready = False
        self._closing = False
        self._closed = False
        self._failure: BrokerError | None = None
        self._done: Callable[[], bool] = lambda: True
        # Delivery tags count from 1 per channel in confirm mode; dicts keep them in order.
        self._next_tag = 0
        self._in_flight: dict[int, str] = {}
        self._returned: dict[str, str] = {}
        self._result = PublishResult()
        self._publish_more: Callable[[], None] = lambda: None

    # -- the I/O loop ---------------------------------------------------------------------
    def _run_until(self, done: Callable[[], bool], deadline: float) -> bool:
        """Run the I/O loop until `done()`, a failure, or the deadline; True if done."""
        if done() or self._failure is not None:
            return done()
        ioloop = self._connection.ioloop
        self._done = done
        timer = ioloop.call_later(max(0.0, deadline - time.monotonic()), ioloop.stop)
        try:
            ioloop.start()
        finally:
            ioloop.remove_timeout(timer)
            self._done = lambda: True
        return done()

    def _wake(self) -> None:
        if self._failure is not None or self._done():
            self._connection.ioloop.stop()

    def _fail(self, failure: BrokerError) -> None:
        if self._failure is None:
            self._failure = failure
        self._connection.ioloop.stop()

    # -- opening ------------------------------------------------------------------------
    def open(self, deadline: float) -> None:
        self._connection = pika.SelectConnection(
            self._parameters,
            on_open_callback=self._on_connection_open,
            on_open_error_callback=self._on_connection_open_error,
            on_close_callback=self._on_connection_closed,
        )
        if not self._run_until(lambda: self._ready, deadline):
            failure = self._failure or BrokerUnavailable("timed out opening the broker channel")
            self.close()
            raise failure

    def _on_connection_open(self, connection: Any) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_connection_open_error(self, connection: Any, error: BaseException) -> None:
        self._closed = True
        self._fail(BrokerUnavailable(f"cannot connect to the broker: {error!r}"))

    def _on_connection_closed(self, connection: Any, reason: BaseException) -> None:
        self._closed = True
        if not self._closing:
            self._fail(BrokerUnavailable(f"lost the broker: {reason!r}"))
        connection.ioloop.stop()

    def _on_channel_open(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(self._on_confirmation, callback=self._on_confirm_mode)

    def _on_channel_closed(self, channel: Any, reason: BaseException) -> None:
        if self._closing:
            return
        if isinstance(reason, ChannelClosedByBroker):
            # Channel-level errors are about what we asked for, not about the network.
            self._fail(
                BrokerMisconfigured(
                    f"the broker closed the channel: {reason.reply_code} {reason.reply_text}"
                )
            )
        elif not isinstance(reason, ChannelClosedByClient):
            self._fail(BrokerUnavailable(f"lost the broker channel: {reason!r}"))

    def _on_confirm_mode(self, _frame: Any) -> None:
        self._declare(billing_topology(self._exchange))

    def _declare(self, remaining: list[Declaration]) -> None:
        if not remaining:
            self._ready = True
            self._wake()
            return
        first, rest = remaining[0], remaining[1:]
        getattr(self._channel, first.method)(
            **first.arguments, callback=lambda _frame: self._declare(rest)
        )

    # -- publishing -----------------------------------------------------------------------
    def publish(self, messages: Sequence[OutgoingMessage], deadline: float) -> PublishResult:
        """Publish the batch; return once every message is confirmed or refused, or on failure.

        A session that failed or ran out of time stays failed: its later batches come back
        unconfirmed with the same failure.
        """
        self._result = result = PublishResult()
        waiting = list(reversed(messages))  # pop() from the end keeps the batch's order

        def publish_more() -> None:
            while (
                waiting
                and len(self._in_flight) < self._max_in_flight
                and self._failure is None
                and self._channel.is_open
            ):
                message = waiting.pop()
                self._next_tag += 1
                self._in_flight[self._next_tag] = message.message_id
                self._channel.basic_publish(
                    exchange=self._exchange,
                    routing_key=ROUTING_KEY,
                    body=message.body.encode("utf-8"),
                    properties=pika.BasicProperties(
                        content_type=CONTENT_TYPE,
                        delivery_mode=pika.DeliveryMode.Persistent,
                        message_id=message.message_id,
                        type=SCHEMA,
                        app_id=APP_ID,
                    ),
                    # With the alternate exchange a return means even the safety net is gone.
                    mandatory=True,
                )

        self._publish_more = publish_more
        if self._failure is None and self._ready:
            publish_more()
            finished = self._run_until(lambda: not waiting and not self._in_flight, deadline)
            if not finished and self._failure is None:
                self._failure = BrokerUnavailable("the broker did not confirm in time")
        result.failure = self._failure
        if result.failure is not None or not self._ready:
            result.failure = result.failure or BrokerUnavailable("the session is not open")
            result.unconfirmed.extend(self._in_flight.values())
            result.unconfirmed.extend(m.message_id for m in reversed(waiting))
            self._in_flight.clear()
        return result

    def _on_return(self, _channel: Any, method: Any, properties: Any, _body: bytes) -> None:
        # RabbitMQ sends basic.return before the ack of the same message.
        self._returned[str(properties.message_id)] = (
            f"unroutable: {method.reply_code} {method.reply_text}"
        )

    def _on_confirmation(self, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tag = int(method.delivery_tag)
        tags: list[int] = []
        if method.multiple:
            for in_flight in self._in_flight:  # oldest first
                if tag and in_flight > tag:
                    break
                tags.append(in_flight)
        elif tag in self._in_flight:
            tags.append(tag)
        for settled in tags:
            message_id = self._in_flight.pop(settled)
            returned = self._returned.pop(message_id, None)
            if not acked:
                self._result.refused[message_id] = "nacked by the broker"
            elif returned is not None:
                self._result.refused[message_id] = returned
            else:
                self._result.confirmed.append(message_id)
        self._publish_more()
        self._wake()

    # -- closing --------------------------------------------------------------------------
    def close(self) -> None:
        if self._connection is None:
            return
        if not self._closed:
            self._closing = True
            try:
                self._connection.close()
                self._run_until(lambda: self._closed, time.monotonic() + 5.0)
            except AMQPError:
                pass  # already closing or closed: nothing left to release but the loop
        self._connection.ioloop.close()
        self._connection = None


@dataclass
class BillingPublisher:
    amqp_url: str
    exchange: str
    connect_timeout_seconds: float = 5.0
    # Enough to keep the broker busy without holding much unconfirmed at once.
    max_in_flight: int = 1000

    def _parameters(self) -> pika.URLParameters:
        parameters = pika.URLParameters(self.amqp_url)
        parameters.connection_attempts = 1
        parameters.socket_timeout = self.connect_timeout_seconds
        parameters.stack_timeout = self.connect_timeout_seconds
        parameters.blocked_connection_timeout = self.connect_timeout_seconds
        return parameters

    @contextmanager
    def session(self, deadline: float | None = None) -> Iterator[PublishSession]:
        """One connection for a whole run; `deadline` is on time.monotonic()'s clock."""
        opened_by = deadline or time.monotonic() + self.connect_timeout_seconds
        session = PublishSession(self._parameters(), self.exchange, self.max_in_flight)
        session.open(min(opened_by, time.monotonic() + self.connect_timeout_seconds))
        try:
            yield session
        finally:
            session.close()

    def publish(self, message_id: str, body: str, timeout_seconds: float = 10.0) -> None:
        """Return only once the broker has confirmed the one message as stored.

        Raises BrokerUnavailable, BrokerMisconfigured or PublishNotConfirmed.
        """
        deadline = time.monotonic() + timeout_seconds
        with self.session(deadline) as session:
            result = session.publish([OutgoingMessage(message_id, body)], deadline)
        if message_id in result.refused:
            raise PublishNotConfirmed(
                f"broker did not accept message {message_id}: {result.refused[message_id]}"
            )
        if result.failure is not None:
            raise result.failure
