"""The REST Proxy as a served process (``transit-status serve rest-proxy``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import tenacity
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastapi import FastAPI

from transit_status.config import Settings
from transit_status.errors import TransitError
from transit_status.platform.rest_proxy.app import create_app
from transit_status.platform.rest_proxy.schemas import UNREACHABLE, make_registry_client

# The supervisor starts the proxy alongside the registry, not after it: give both a moment.
DEPENDENCY_WAIT_S = 30.0
HINT = "start the platform first: `transit-status platform up`"


class DependencyUnavailable(TransitError):
    pass


def check_dependencies(settings: Settings) -> None:
    """Raise :class:`DependencyUnavailable` unless Kafka and the registry both answer."""
    # log_level 2: librdkafka's own connection errors would only repeat what is reported here.
    admin = AdminClient(settings.kafka_client_config(**{"client.id": "transit-status-rest-proxy", "log_level": 2}))
    try:
        admin.list_topics(timeout=3)
    except KafkaException as error:
        reason = error.args[0].str() if error.args and hasattr(error.args[0], "str") else str(error)
        raise DependencyUnavailable(f"cannot reach Kafka at {settings.bootstrap_servers}: {reason}") from None
    check_registry(settings)


def check_registry(settings: Settings) -> None:
    """Raise :class:`DependencyUnavailable` unless the registry answers, saying how it failed."""
    url = settings.schema_registry_url
    # Each is waited out (the registry may still be starting), but only a transport failure is "cannot reach".
    try:
        make_registry_client(settings).get_subjects()
    except UNREACHABLE as error:
        reason = str(error) or type(error).__name__
        raise DependencyUnavailable(f"cannot reach the schema registry at {url}: {reason}") from None
    except SchemaRegistryError as error:
        raise DependencyUnavailable(
            f"the schema registry at {url} answered with an error: {error.error_message} "
            f"(HTTP {error.http_status_code}, error {error.error_code})"
        ) from None
    except Exception as error:
        raise DependencyUnavailable(
            f"unexpected answer from {url} (is it the schema registry?): {type(error).__name__}: {error}"
        ) from None


def wait_for_dependencies(settings: Settings, wait_s: float = DEPENDENCY_WAIT_S) -> None:
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(DependencyUnavailable),
        stop=tenacity.stop_after_delay(wait_s),
        wait=tenacity.wait_fixed(1.0),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            check_dependencies(settings)


@contextlib.contextmanager
def serving_rest_proxy(settings: Settings) -> Iterator[FastAPI]:
    """The proxy's app once Kafka and the registry answer; its shutdown flushes the producer."""
    try:
        wait_for_dependencies(settings)
    except DependencyUnavailable as problem:
        raise TransitError(f"{problem}; {HINT}") from None
    yield create_app(settings)
