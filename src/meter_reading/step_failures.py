"""What a Task state sees when one of our Lambdas fails: a name to retry on, nothing personal.

Lambda reports an unhandled exception by its class name (`errorType`) and its message;
Step Functions matches Retry and Catch on that name and keeps the message in the execution
history for 90 days. Raw exceptions get both wrong:

- botocore raises a plain `ClientError` for every error code its service model does not
  name (DynamoDB's ValidationException and AccessDeniedException, S3's SlowDown, ...), so a
  Retry list could only name the transient and the permanent ones together, as ClientError;
- messages quote what they were given: an HTTP library the media URL, Twilio the number it
  could not message.

`step_failures` re-raises such an exception as one named after its error code (an AWS
error) or its own class, with URLs and phone numbers scrubbed from the message and the
original traceback kept. Exceptions already named well and saying nothing personal pass
through untouched.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from meter_reading.domain.privacy import scrub

#: What SendTaskSuccess / SendTaskFailure answer for a token whose wait is over (answered
#: already, timed out, or its execution ended): nothing is left to resume, and retrying
#: would not change that.
TASK_TOKEN_GONE = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})

Handler = TypeVar("Handler", bound=Callable[..., Any])

_named: dict[str, type[Exception]] = {}


class StepFailure(Exception):
    """Base of the re-raised failures: only their class names matter, to the state machine."""


def failure_name(error: BaseException) -> str:
    """The name the state machine sees: an AWS error's code, else the exception's class."""
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code.isidentifier():
            return code
    return type(error).__name__


def _failure_class(name: str) -> type[Exception]:
    if name not in _named:
        _named[name] = type(name, (StepFailure,), {"__module__": __name__})
    return _named[name]


def step_failures(handler: Handler) -> Handler:
    """Decorate a handler the state machine invokes (directly, under the logger's decorator)."""

    @functools.wraps(handler)
    def reporting(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except Exception as error:
            name, message = failure_name(error), str(error)
            scrubbed = scrub(message)
            if name == type(error).__name__ and scrubbed == message:
                raise
            raise _failure_class(name)(scrubbed).with_traceback(error.__traceback__) from None

    return reporting  # type: ignore[return-value]
