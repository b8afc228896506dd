"""Faust's Kafka clients (aiokafka) take the same bootstrap list and security as every other client."""

from __future__ import annotations

from pathlib import Path

from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from transit_status.config import load_settings
from transit_status.streams.app import create_app, faust_credentials


def test_faust_gets_every_broker_and_the_sasl_ssl_credentials(tmp_path: Path) -> None:
    settings = load_settings(
        state_dir=tmp_path,
        kafka_bootstrap_servers="b1.example.net:9092,b2.example.net:9092",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="KEY",
        kafka_sasl_password="not-shown",
    )
    app = create_app(settings, topic_partitions={settings.stations_topic: 1})
    assert [str(url) for url in app.conf.broker] == ["kafka://b1.example.net:9092", "kafka://b2.example.net:9092"]
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    assert (auth["security_protocol"], auth["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("KEY", "not-shown")
    assert auth["ssl_context"].check_hostname


def test_plaintext_needs_no_credentials() -> None:
    assert faust_credentials(load_settings()) is None
