"""``/topics``: topic and partition metadata, as Confluent's v2 API shapes it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from transit_status.platform.rest_proxy import errors
from transit_status.platform.rest_proxy.kafka import PartitionInfo, TopicInfo
from transit_status.platform.rest_proxy.routes.common import Accepting, Kafka, KafkaJSONResponse

router = APIRouter(dependencies=[Accepting])


def partition_json(partition: PartitionInfo) -> dict[str, Any]:
    return {
        "partition": partition.partition,
        "leader": partition.leader,
        "replicas": [
            {"broker": broker, "leader": broker == partition.leader, "in_sync": broker in partition.in_sync}
            for broker in partition.replicas
        ],
    }


def partitions_json(info: TopicInfo) -> list[dict[str, Any]]:
    return [partition_json(info.partitions[number]) for number in sorted(info.partitions)]


def partition_number(text: str) -> int:
    """A partition from the URL; anything but a non-negative integer names no partition (40402)."""
    if not (text.isascii() and text.isdigit()):
        raise errors.partition_not_found()
    return int(text)


async def existing_topic(kafka: Kafka, topic: str) -> TopicInfo:
    info = await kafka.topic(topic)
    if info is None:
        raise errors.topic_not_found()
    return info


@router.get("/")
async def root() -> KafkaJSONResponse:
    return KafkaJSONResponse({})


@router.get("/topics")
async def list_topics(kafka: Kafka) -> KafkaJSONResponse:
    topics = await kafka.topics()
    return KafkaJSONResponse(sorted(name for name in topics if not name.startswith("__")))


@router.get("/topics/{topic}")
async def describe_topic(kafka: Kafka, topic: str) -> KafkaJSONResponse:
    info = await existing_topic(kafka, topic)
    configs = await kafka.topic_configs(topic)
    return KafkaJSONResponse({"name": info.name, "configs": configs, "partitions": partitions_json(info)})


@router.get("/topics/{topic}/partitions")
async def list_partitions(kafka: Kafka, topic: str) -> KafkaJSONResponse:
    return KafkaJSONResponse(partitions_json(await existing_topic(kafka, topic)))


@router.get("/topics/{topic}/partitions/{partition}")
async def describe_partition(kafka: Kafka, topic: str, partition: str) -> KafkaJSONResponse:
    number = partition_number(partition)
    info = await kafka.topic_with_partitions(topic, [number])
    if info is None:
        raise errors.topic_not_found()
    if number not in info.partitions:
        raise errors.partition_not_found()
    return KafkaJSONResponse(partition_json(info.partitions[number]))
