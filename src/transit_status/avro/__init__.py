"""Avro for every component: Confluent wire-format decoding (``wire``) and Java-compatible schema checks
(``validation``)."""
