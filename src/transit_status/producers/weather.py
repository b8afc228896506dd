"""The weather station: legacy hardware that can only speak HTTP, so it posts through the REST Proxy.

It uses the Confluent REST Proxy v2 Avro API exactly like the seed project: the first request
carries the key and value schemas inline; later requests refer to them by the ids the proxy
returned. Each request has a timeout and a bounded number of retries with backoff; a 4xx answer is
the request's fault and is not retried.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from types import TracebackType

import httpx
import tenacity

from transit_status.config import Settings
from transit_status.producers.kafka import epoch_ms
from transit_status.schemas import load_schema
from transit_status.simulation.events import WeatherReading

log = logging.getLogger(__name__)

AVRO_V2 = "application/vnd.kafka.avro.v2+json"
ACCEPT_V2 = "application/vnd.kafka.v2+json"


class WeatherRejected(Exception):
    """The REST Proxy refused the reading (a 4xx): retrying would not help."""


class WeatherUnavailable(Exception):
    """The REST Proxy could not be reached or kept failing after every retry."""


class _Undelivered(Exception):
    """One attempt failed in a way another attempt may fix (timeout, 5xx, record error)."""


class RestProxyWeatherStation:
    def __init__(
        self,
        settings: Settings,
        # One request may wait for a just-created topic (the proxy waits up to 4 s for it); a stopping
        # simulation starts no further attempt (send's should_stop), so a stop waits for one request at most.
        timeout_s: float = 5.0,
        retries: int = 2,
        backoff_s: float = 0.25,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = f"{settings.rest_proxy_url}/topics/{settings.topic_weather}"
        self.retries = retries
        self.backoff_s = backoff_s
        self.client = client or httpx.Client(timeout=timeout_s)
        self._schema_ids: tuple[int, int] | None = None
        self.sent = 0

    def __enter__(self) -> RestProxyWeatherStation:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.client.close()

    def _body(self, reading: WeatherReading) -> dict[str, object]:
        record = {
            "key": {"timestamp": epoch_ms(reading.at)},
            "value": {"temperature": reading.temperature_f, "status": str(reading.status)},
        }
        if self._schema_ids is None:
            schemas: dict[str, object] = {
                "key_schema": load_schema("weather_key"),
                "value_schema": load_schema("weather_value"),
            }
        else:
            schemas = {"key_schema_id": self._schema_ids[0], "value_schema_id": self._schema_ids[1]}
        return {**schemas, "records": [record]}

    def _post(self, reading: WeatherReading) -> None:
        """One attempt; raises WeatherRejected (4xx, final) or _Undelivered (worth another attempt)."""
        try:
            response = self.client.post(
                self.url,
                content=json.dumps(self._body(reading)),
                headers={"Content-Type": AVRO_V2, "Accept": ACCEPT_V2},
            )
        except httpx.HTTPError as error:
            raise _Undelivered(f"{type(error).__name__}: {error}") from None
        if response.status_code == 200:
            body = response.json()
            record_error = next((o for o in body.get("offsets", []) if o.get("error_code")), None)
            if record_error is not None:
                raise _Undelivered(f"record error {record_error['error_code']}: {record_error.get('error')}")
            self._schema_ids = (body["key_schema_id"], body["value_schema_id"])
            self.sent += 1
            return
        if 400 <= response.status_code < 500:
            raise WeatherRejected(f"REST Proxy refused the reading: {response.status_code} {response.text}")
        raise _Undelivered(f"HTTP {response.status_code}: {response.text[:200]}")

    def send(self, reading: WeatherReading, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Post one reading; raises WeatherRejected (4xx) or WeatherUnavailable (after retries).

        No further attempt starts once ``should_stop()``: a stopping simulation does not wait for them.
        """
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Undelivered),
            stop=tenacity.stop_any(tenacity.stop_after_attempt(self.retries + 1), lambda _state: should_stop()),
            wait=tenacity.wait_exponential(multiplier=self.backoff_s),
            reraise=True,
        )
        try:
            retrying(self._post, reading)
        except _Undelivered as problem:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise WeatherUnavailable(
                f"weather reading not delivered to {self.url} after {attempts} attempts ({problem}); "
                "is the REST Proxy running? (`transit-status platform status`)"
            ) from None
