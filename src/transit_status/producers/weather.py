"""The weather station: legacy hardware that can only speak HTTP, so it posts through the REST Proxy.

It uses the Confluent REST Proxy v2 Avro API exactly like the seed project: the first request
carries the key and value schemas inline; later requests refer to them by the ids the proxy
returned. Each request has a timeout and a bounded number of retries with backoff; a 4xx answer is
the request's fault and is not retried.
"""

from __future__ import annotations

import json
import logging
import time
from types import TracebackType

import httpx

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


class RestProxyWeatherStation:
    def __init__(
        self,
        settings: Settings,
        # At most ~7 s in all (3 attempts of 2 s + backoff): well inside the supervisor's stop grace period,
        # so a hanging proxy cannot keep the simulation from flushing when asked to stop.
        timeout_s: float = 2.0,
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

    def send(self, reading: WeatherReading) -> None:
        """Post one reading; raises WeatherRejected (4xx) or WeatherUnavailable (after retries)."""
        last_problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.client.post(
                    self.url,
                    content=json.dumps(self._body(reading)),
                    headers={"Content-Type": AVRO_V2, "Accept": ACCEPT_V2},
                )
            except httpx.HTTPError as error:
                last_problem = f"{type(error).__name__}: {error}"
                continue
            if response.status_code == 200:
                body = response.json()
                record_error = next((o for o in body.get("offsets", []) if o.get("error_code")), None)
                if record_error is None:
                    self._schema_ids = (body["key_schema_id"], body["value_schema_id"])
                    self.sent += 1
                    return
                last_problem = f"record error {record_error['error_code']}: {record_error.get('error')}"
                continue
            if 400 <= response.status_code < 500:
                raise WeatherRejected(f"REST Proxy refused the reading: {response.status_code} {response.text}")
            last_problem = f"HTTP {response.status_code}: {response.text[:200]}"
        raise WeatherUnavailable(
            f"weather reading not delivered to {self.url} after {self.retries + 1} attempts ({last_problem}); "
            "is the REST Proxy running? (`transit-status platform status`)"
        )
