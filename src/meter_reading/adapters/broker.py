"""RabbitMQ: hand a confirmed reading to billing, and know that the broker has it."""

from __future__ import annotations

from dataclasses import dataclass

import pika
from pika.exceptions import AMQPError, NackError, UnroutableError

from meter_reading.domain.contract import CONTENT_TYPE, ROUTING_KEY


class BrokerUnavailable(Exception):
    """The broker could not be reached; worth retrying later."""


class PublishNotConfirmed(Exception):
    """The broker refused the message (nack) or had no queue to route it to."""


@dataclass
class BillingPublisher:
    amqp_url: str
    exchange: str
    connect_timeout_seconds: float = 5.0

    def publish(self, message_id: str, body: str) -> None:
        """Return only once the broker has confirmed the message as routed and stored."""
        parameters = pika.URLParameters(self.amqp_url)
        parameters.connection_attempts = 1
        parameters.socket_timeout = self.connect_timeout_seconds
        parameters.blocked_connection_timeout = self.connect_timeout_seconds
        try:
            connection = pika.BlockingConnection(parameters)
        except AMQPError as error:
            raise BrokerUnavailable(f"cannot connect to the broker: {error!r}") from error
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
            channel.basic_publish(
                exchange=self.exchange,
                routing_key=ROUTING_KEY,
                body=body.encode("utf-8"),
                properties=pika.BasicProperties(
                    content_type=CONTENT_TYPE,
                    delivery_mode=pika.DeliveryMode.Persistent,
                    message_id=message_id,
                ),
                # No queue bound means billing would never see it: treat as a failure.
                mandatory=True,
            )
        except (UnroutableError, NackError) as error:
            raise PublishNotConfirmed(
                f"broker did not accept message {message_id}: {error!r}"
            ) from error
        except AMQPError as error:
            raise BrokerUnavailable(f"lost the broker while publishing: {error!r}") from error
        finally:
            if connection.is_open:
                connection.close()
