"""OpenSearch 2.19.6, a single node from Maven Central jars on the machine's JDK (the London sinks' index).

OpenSearch is Elasticsearch-compatible; Elasticsearch's own runnable builds are SSPL/AGPL. Its jars
and the plugins a distribution ships as modules come from ``jars/opensearch/pom.xml``, and a small
launcher built from that folder's sources (``EmbeddedNode``) starts a node with those plugins on the
classpath. There is no security plugin: like every other service here it listens on ``settings.host``
only.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from transit_status.config import Settings
from transit_status.platform.jvm import java_command, opensearch_classpath
from transit_status.platform.service import Launch, ServiceSpec

LAUNCHER_CLASS = "io.transitstatus.opensearch.EmbeddedNode"
READY_STATUSES = frozenset({"yellow", "green"})  # yellow: a single node cannot place replicas


def home_dir(settings: Settings) -> Path:
    return settings.state_dir / "opensearch"


def node_settings(settings: Settings) -> dict[str, str]:
    home = home_dir(settings)
    return {
        "cluster.name": "transit-status",
        "node.name": "transit-status",
        "path.data": str(home / "data"),
        "path.logs": str(settings.logs_dir),
        "network.host": settings.host,
        "http.port": str(settings.opensearch_port),
        "transport.port": str(settings.opensearch_transport_port),
        "discovery.type": "single-node",
        # A shared development disk is often past the 85-90 % watermarks; the node would then refuse
        # to allocate new indices' shards (red). One node with local data has nowhere to move them anyway.
        "cluster.routing.allocation.disk.threshold_enabled": "false",
    }


def prepare_node(settings: Settings) -> Path:
    """Write ``<home>/config/opensearch.yml`` (every start, so changed ports apply). Returns the home."""
    home = home_dir(settings)
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "tmp").mkdir(exist_ok=True)
    # Plain `key: "value"` lines are YAML; json-style quoting keeps every value a string.
    lines = [f'{key}: "{value}"' for key, value in node_settings(settings).items()]
    (home / "config" / "opensearch.yml").write_text("\n".join(lines) + "\n")
    return home


def node_command(settings: Settings, home: Path) -> list[str]:
    options = [
        # OpenSearch wants its heap fixed up front (min = max), as its own jvm.options does.
        f"-Xms{settings.opensearch_heap}",
        f"-Djava.io.tmpdir={home / 'tmp'}",
        "-Dlog4j2.disable.jmx=true",
        # The launcher's hook closes the node on SIGTERM; log4j's own hook would stop logging first.
        "-Dlog4j2.shutdownHookEnabled=false",
    ]
    return java_command(
        settings.opensearch_heap,
        settings.logs_dir,
        opensearch_classpath(settings),
        LAUNCHER_CLASS,
        str(home),
        options=options,
    )


def cluster_is_ready(settings: Settings) -> bool:
    try:
        response = httpx.get(f"{settings.opensearch_url}/_cluster/health", timeout=2.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json().get("status") in READY_STATUSES


def specs(settings: Settings) -> list[ServiceSpec]:
    # A declaration, like every service module's specs(): the keywords repeat, each value is this service's own.
    return [
        ServiceSpec(
            name="opensearch",
            port=settings.opensearch_port,
            extra_ports=(settings.opensearch_transport_port,),
            after=(),
            prepare=lambda: Launch(command=node_command(settings, prepare_node(settings))),
            is_ready=lambda: cluster_is_ready(settings),
            # SIGTERM runs the launcher's shutdown hook, which closes the node (and flushes its shards).
        )
    ]
