"""OpenSearch from Maven Central jars: a healthy single node that indexes and searches documents."""

from __future__ import annotations

import uuid

import pytest
from opensearchpy import OpenSearch

from transit_status.config import Settings

pytestmark = pytest.mark.platform


def client(settings: Settings) -> OpenSearch:
    return OpenSearch(hosts=[settings.opensearch_url], timeout=30)


def test_cluster_health_is_yellow_or_green(platform: Settings) -> None:
    health = client(platform).cluster.health()
    assert health["status"] in {"yellow", "green"}
    assert health["number_of_nodes"] == 1


def test_indexes_and_searches_a_document(platform: Settings) -> None:
    search = client(platform)
    index = f"test-{uuid.uuid4().hex[:10]}"
    search.indices.create(
        index=index,
        body={
            "settings": {"number_of_replicas": 0},
            "mappings": {
                "properties": {
                    "station": {"type": "keyword"},
                    "location": {"type": "geo_point"},
                    "@timestamp": {"type": "date"},
                    "delta": {"type": "integer"},
                }
            },
        },
    )
    document = {
        "station": "Bank and Monument",
        "location": "51.513426,-0.08891",
        "@timestamp": "2024-05-01T08:30:00.000Z",
        "delta": 1,
    }
    search.index(index=index, body=document, id="barrier-1", refresh=True)
    hits = search.search(index=index, body={"query": {"term": {"station": "Bank and Monument"}}})["hits"]
    assert hits["total"]["value"] == 1
    assert hits["hits"][0]["_source"] == document
    # Geo and date aggregations work: what the London dashboard's charts and map ask for.
    near_bank = search.search(
        index=index,
        body={
            "query": {"geo_distance": {"distance": "1km", "location": "51.5133,-0.0886"}},
            "aggs": {"per_minute": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m"}}},
        },
    )
    assert near_bank["hits"]["total"]["value"] == 1
    assert [bucket["doc_count"] for bucket in near_bank["aggregations"]["per_minute"]["buckets"]] == [1]
