"""transit-status: real-time public transit status on the Apache Kafka ecosystem."""

__version__ = "0.1.0"
