"""What ops count and trace: the CloudWatch metrics (EMF) and the X-Ray tracer of each handler.

Every metric is in one namespace with one dimension, ``service``, so the alarms and the
dashboard in template.yaml name each metric exactly; ``tests/test_template.py`` checks that
every metric they name is one defined here.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit, single_metric
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

F = TypeVar("F", bound=Callable[..., Any])

NAMESPACE = "MeterReading"


class Service(StrEnum):
    """The ``service`` dimension: which part of the pipeline counted it."""

    WEBHOOK = "webhook"
    READINGS = "readings"
    OCR = "ocr"
    BILLING = "billing"


class Metric(StrEnum):
    # webhook
    READINGS_STARTED = "ReadingsStarted"
    SIGNATURE_REJECTED = "WebhookSignatureRejected"
    # readings: how each one ended
    CONFIRMED_BY_OCR = "ReadingsConfirmedByOcr"
    CONFIRMED_BY_HOUSEHOLD = "ReadingsConfirmedByHousehold"
    REJECTED = "ReadingsRejected"
    SUPERSEDED = "ReadingsSuperseded"
    EXPIRED = "ReadingsExpired"
    UNREADABLE = "ReadingsUnreadable"  # with a `reason` dimension as well
    FAILED = "ReadingsFailed"
    OCR_CONFIDENCE = "OcrConfidence"
    # ocr
    TEXT_DETECTION_FAILED = "TextDetectionFailures"
    # billing
    PUBLISHED = "BillingMessagesPublished"
    KEPT = "BillingMessagesKept"
    DEAD = "BillingMessagesDead"
    OLDEST_PENDING_SECONDS = "OutboxOldestPendingSeconds"


#: Which service counts which metric (the dimension the alarms and the dashboard use).
SERVICE_OF: dict[Metric, Service] = {
    Metric.READINGS_STARTED: Service.WEBHOOK,
    Metric.SIGNATURE_REJECTED: Service.WEBHOOK,
    Metric.CONFIRMED_BY_OCR: Service.READINGS,
    Metric.CONFIRMED_BY_HOUSEHOLD: Service.READINGS,
    Metric.REJECTED: Service.READINGS,
    Metric.SUPERSEDED: Service.READINGS,
    Metric.EXPIRED: Service.READINGS,
    Metric.UNREADABLE: Service.READINGS,
    Metric.FAILED: Service.READINGS,
    Metric.OCR_CONFIDENCE: Service.READINGS,
    Metric.TEXT_DETECTION_FAILED: Service.OCR,
    Metric.PUBLISHED: Service.BILLING,
    Metric.KEPT: Service.BILLING,
    Metric.DEAD: Service.BILLING,
    Metric.OLDEST_PENDING_SECONDS: Service.BILLING,
}

#: Reasons an unreadable photo may carry as a dimension; any other is counted as "other",
#: so a new reason cannot create unbounded metric series.
UNREADABLE_REASONS = frozenset(
    {
        "no_text",
        "no_display",
        "several_candidates",
        "low_confidence",
        "too_dark",
        "blurred",
        "unsupported_media",
        "not_a_meter",
    }
)


def metrics(service: Service) -> EphemeralMetrics:
    """One handler module's metrics, flushed as one EMF line per invocation (`log_metrics`).

    Ephemeral: Powertools' `Metrics` shares its metric set between instances, and locally
    several handlers run in one process.
    """
    return EphemeralMetrics(namespace=NAMESPACE, service=service.value)


def count(recorder: EphemeralMetrics, metric: Metric, value: float = 1) -> None:
    recorder.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)


def count_unreadable(recorder: EphemeralMetrics, reason: str | None) -> None:
    """ReadingsUnreadable in total, and once more by reason (a series of its own)."""
    count(recorder, Metric.UNREADABLE)
    with single_metric(
        name=Metric.UNREADABLE.value,
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE_OF[Metric.UNREADABLE].value},
    ) as by_reason:
        by_reason.add_dimension(name="reason", value=unreadable_reason(reason))


def published(recorder: EphemeralMetrics) -> Callable[[F], F]:
    """Flush what the handler counted as one EMF line when it returns or raises.

    Powertools' `log_metrics` warns on every invocation that counted nothing; most of ours
    count only on some paths.
    """

    def decorate(handler: F) -> F:
        @functools.wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            finally:
                if recorder.metric_set:
                    recorder.flush_metrics()
                    # With POWERTOOLS_METRICS_DISABLED Powertools prints nothing and keeps
                    # the metrics: they would come out with the next enabled invocation's.
                    recorder.clear_metrics()

        return wrapper  # type: ignore[return-value]

    return decorate


def tracing_enabled() -> bool:
    """Will X-Ray record anything? As Powertools decides it: in Lambda (not SAM's or Chalice's
    emulator) and not turned off with POWERTOOLS_TRACE_DISABLED."""
    if resolve_truthy_env_var_choice(env=os.getenv(constants.TRACER_DISABLED_ENV, "false")):
        return False
    if os.getenv(constants.SAM_LOCAL_ENV) or os.getenv(constants.CHALICE_LOCAL_ENV):
        return False
    return bool(os.getenv(constants.LAMBDA_TASK_ROOT_ENV))


class NoTracer:
    """What a handler's tracer is where nothing would be recorded: its decorators leave the
    function as it is.

    Powertools' Tracer imports the X-Ray SDK (about 270 ms of a cold start) even when it is
    disabled; this one imports nothing.
    """

    def __init__(self, service: str) -> None:
        self.service = service

    # Typed as Powertools types its own, so a handler module type-checks the same with either.
    def capture_lambda_handler(self, *_args: Any, **_kwargs: Any) -> Callable[..., Any]:
        return _unchanged

    def capture_method(self, *_args: Any, **_kwargs: Any) -> Callable[..., Any]:
        return _unchanged

    def put_annotation(self, key: str, value: str | int | float | bool) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        return None


def _unchanged(function: F) -> F:
    return function


def tracer(service: str) -> Tracer | NoTracer:
    """X-Ray through Powertools in Lambda; responses are not recorded (they may hold a
    household's data). Outside Lambda, or with POWERTOOLS_TRACE_DISABLED, a `NoTracer`.

    Only botocore is patched: it is the one library our handlers call AWS with, and patching
    every library the SDK knows costs cold-start time for nothing.
    """
    if not tracing_enabled():
        return NoTracer(service)
    from aws_lambda_powertools import Tracer

    return Tracer(service=service, patch_modules=("botocore",))


def unreadable_reason(reason: str | None) -> str:
    return reason if reason in UNREADABLE_REASONS else "other"
