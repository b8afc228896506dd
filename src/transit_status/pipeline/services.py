"""The pipelines' processes on top of the platform, by network, plus the dashboard both share.

They are supervised like the platform's services (``transit-status run`` starts both); what they
need first (contract topics, connectors, SQL jobs) is prepared here, not by the platform.
``settings.run_networks`` says which networks' parts run (``run --network``).
"""

from __future__ import annotations

from dataclasses import replace

from transit_status.config import Settings
from transit_status.networks import load_network
from transit_status.pipeline.connectors import (
    ensure_london_postgres_sink_connector,
    ensure_london_stations_connector,
    ensure_stations_connector,
)
from transit_status.pipeline.schedule import publish_cta_schedule, publish_london_typical_day
from transit_status.pipeline.sql_jobs import CTA_JOBS, LONDON_JOBS, ensure_jobs, london_network
from transit_status.platform.service import Launch, ServiceSpec, consumer_group_stable, http_responds, python_service
from transit_status.platform.services import flink
from transit_status.topics import ensure_topics, london_derived_topics


def flink_services(settings: Settings) -> tuple[str, ...]:
    """What a SQL job's submitter waits for: the gateway, and every TaskManager (so that the job's
    parallel instances are spread over all of them)."""
    return ("sql-gateway", *flink.taskmanager_names(settings))


def prepare_streams(settings: Settings) -> Launch:
    # Topics and the stations connector exist before anything reads or writes them.
    ensure_topics(settings)
    ensure_stations_connector(settings)
    # The service-health job joins the schedule, which comes from the network: written before it starts.
    publish_cta_schedule(settings, load_network(settings))
    # The turnstile summary and service health run on Flink: submitted once, resumed from their last
    # checkpoint after a restart.
    ensure_jobs(settings, CTA_JOBS)
    return python_service("streams", settings)


def prepare_barriers(settings: Settings) -> Launch:
    # London's stations come from MariaDB through Connect; its joins and counts run on Flink.
    ensure_topics(settings)
    ensure_london_stations_connector(settings)
    # The crowding job joins the typical day and the calendar, which come from the network.
    publish_london_typical_day(settings, london_network(settings))
    ensure_jobs(settings, LONDON_JOBS)
    return python_service("barriers", settings)


def prepare_london_sinks(settings: Settings) -> Launch:
    # The enriched topics exist before either sink reads them; the JDBC sink runs inside Connect, so
    # registering it (create or update) is all it needs; the OpenSearch sink is a process of its own.
    ensure_topics(settings, london_derived_topics(settings))
    ensure_london_postgres_sink_connector(settings)
    return python_service("opensearch-sink", settings)


def cta_services(settings: Settings) -> list[ServiceSpec]:
    return [
        ServiceSpec(
            name="streams",
            port=0,
            # The connector registered in prepare_streams reads PostgreSQL's stations table; the SQL
            # jobs it submits go through the gateway to the TaskManager.
            after=(*settings.kafka_services, "schema-registry", "connect", "postgres", *flink_services(settings)),
            prepare=lambda: prepare_streams(settings),
            is_ready=lambda: consumer_group_stable(settings, settings.faust_app_id),
        ),
        arrivals_source(settings),
    ]


def arrivals_source(settings: Settings) -> ServiceSpec:
    """Where Chicago's arrivals come from (``settings.source``): the simulation, or a real feed.

    The simulation also makes the turnstile entries and the weather (through the REST Proxy). A real
    feed (``serve feed``: Train Tracker, GTFS-realtime or a replay) has neither: it needs no REST
    Proxy, the turnstile and weather topics stay empty (the Flink turnstile job still runs, on an empty
    topic, so switching back needs no other change) and the page says the feed has none.
    """
    if settings.simulated_source:
        return ServiceSpec(
            name="simulation",
            port=0,
            after=("streams", "dashboard", "rest-proxy"),
            prepare=lambda: python_service("simulate", settings),
            is_ready=lambda: True,
        )
    return ServiceSpec(
        name="feed",
        port=0,
        after=("streams", "dashboard"),
        prepare=lambda: python_service("feed", settings),
        is_ready=lambda: True,
    )


def london_services(settings: Settings) -> list[ServiceSpec]:
    return [
        ServiceSpec(
            name="barriers",  # London's ticket barriers, once the joins that read them are submitted
            port=0,
            after=(*settings.kafka_services, "schema-registry", "connect", "mariadb", *flink_services(settings)),
            prepare=lambda: prepare_barriers(settings),
            is_ready=lambda: True,
        ),
        ServiceSpec(
            name="opensearch-sink",  # London's enriched events into OpenSearch; also registers the PostgreSQL sink
            port=0,
            after=(*settings.kafka_services, "opensearch", "connect", "postgres"),
            prepare=lambda: prepare_london_sinks(settings),
            is_ready=lambda: consumer_group_stable(settings, settings.london_opensearch_sink_group),
        ),
    ]


def runs(settings: Settings, network: str) -> bool:
    return network in settings.networks_run


def dashboard_launch(settings: Settings) -> Launch:
    """The dashboard on glibc's malloc instead of pymalloc: pymalloc returns a 1 MiB arena only once
    every object in it is freed, so after 1,000 browsers left, 27 of the 37 MB they had cost stayed
    held by arenas a few live objects pinned; on malloc, ``dashboard/memory.py``'s trim returns it."""
    launch = python_service("dashboard", settings)
    return replace(launch, env={**launch.env, "PYTHONMALLOC": "malloc"})


def pipeline_services(settings: Settings) -> list[ServiceSpec]:
    dashboard = ServiceSpec(
        name="dashboard",
        port=settings.dashboard_port,
        host=settings.dashboard_host,
        after=(*settings.kafka_services, "schema-registry"),
        # London's charts query OpenSearch; the dashboard copes with it starting later.
        needs=("opensearch",) if runs(settings, "london") else (),
        uses=("connect", "flink-jobmanager", "sql-gateway"),  # /healthz's view of the work
        prepare=lambda: dashboard_launch(settings),
        is_ready=lambda: http_responds(f"{settings.dashboard_url}/healthz"),
    )
    cta = cta_services(settings) if runs(settings, "cta") else []
    london = london_services(settings) if runs(settings, "london") else []
    processes = [dashboard, *cta, *london]
    return [*processes, watchdog_service(settings, after=tuple(spec.name for spec in processes))]


def watchdog_service(settings: Settings, after: tuple[str, ...]) -> ServiceSpec:
    """Keeps the work running (SQL jobs, connectors, groups: pipeline/watchdog.py). It starts last, once
    the processes that create the topics, connectors and jobs have done so the first time."""
    return ServiceSpec(
        name="watchdog",
        port=0,
        after=after,
        prepare=lambda: python_service("watchdog", settings),
        is_ready=lambda: True,
    )
