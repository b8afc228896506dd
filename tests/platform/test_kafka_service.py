"""The brokers' set-up, without a broker: their configuration, the cluster id the storage tool is given,
and how a state directory's cluster size is kept."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from transit_status.config import Settings, load_settings
from transit_status.pipeline import whole_stack
from transit_status.platform.errors import PlatformError
from transit_status.platform.service import with_dependencies
from transit_status.platform.services.connect import connect_properties
from transit_status.platform.services.kafka import _new_cluster_id, broker_properties, check_cluster_size, cluster_id


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TRANSIT_* variable from the caller's shell changes the settings these tests build."""
    for name in list(os.environ):
        if name.startswith("TRANSIT_"):
            monkeypatch.delenv(name)


def test_cluster_ids_are_kafkas_shape_and_never_read_as_an_option() -> None:
    # One random id in 64 would start with "-"; 2,000 draws see one with near certainty.
    ids = [_new_cluster_id() for _ in range(2000)]
    assert not [cluster_id for cluster_id in ids if cluster_id.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(cluster_id + "==")) == 16 for cluster_id in ids)
    assert len(set(ids)) == len(ids)


# ---- three nodes (`--brokers 3`): configuration, derived settings, the state directory's size ----------


@pytest.fixture
def three(tmp_path: Path, clean_env: None) -> Settings:
    return load_settings(state_dir=tmp_path, kafka_brokers=3)


def test_three_nodes_form_one_quorum_with_their_own_listeners_and_data(three: Settings) -> None:
    configs = [broker_properties(three, node) for node in three.kafka_nodes]
    assert [config["node.id"] for config in configs] == ["1", "2", "3"]
    assert len({config["controller.quorum.voters"] for config in configs}) == 1
    voters = configs[0]["controller.quorum.voters"].split(",")
    assert [voter.split("@")[0] for voter in voters] == ["1", "2", "3"]
    for key in ("listeners", "advertised.listeners", "log.dirs"):
        assert len({config[key] for config in configs}) == 3, key
    assert three.bootstrap_servers.count(",") == 2


def test_three_nodes_replicate_every_topic_three_times_and_acknowledge_at_two(three: Settings) -> None:
    config = broker_properties(three, three.kafka_nodes[0])
    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
    ):
        assert config[key] == "3", key
    assert config["min.insync.replicas"] == config["transaction.state.log.min.isr"] == "2"
    assert (three.topic_replicas, three.min_insync_replicas) == (3, 2)
    # Connect's own topics and the registry's follow the same count.
    worker = connect_properties(three)
    assert {worker[f"{kind}.storage.replication.factor"] for kind in ("config", "offset", "status")} == {"3"}


def test_one_node_keeps_one_replica(tmp_path: Path, clean_env: None) -> None:
    one = load_settings(state_dir=tmp_path)
    config = broker_properties(one, one.kafka_nodes[0])
    assert config["offsets.topic.replication.factor"] == config["min.insync.replicas"] == "1"
    assert (one.topic_replicas, one.min_insync_replicas, one.bootstrap_servers.count(",")) == (1, 1, 0)


def test_only_one_or_three_brokers(tmp_path: Path, clean_env: None) -> None:
    with pytest.raises(ValidationError, match="1 or 3 brokers"):
        load_settings(state_dir=tmp_path, kafka_brokers=2)


def test_every_kafka_client_starts_after_all_three_nodes(three: Settings) -> None:
    needed = {spec.name for spec in with_dependencies(whole_stack(three), ["streams", "barriers", "dashboard"])}
    assert {"kafka", "kafka-2", "kafka-3"} <= needed
    for spec in whole_stack(three):
        if "kafka" in spec.after:
            assert {"kafka-2", "kafka-3"} <= set(spec.after), spec.name


def test_a_one_broker_state_directory_is_not_taken_for_three(tmp_path: Path, clean_env: None) -> None:
    one = load_settings(state_dir=tmp_path)
    (tmp_path / "kafka" / "data").mkdir(parents=True)
    (tmp_path / "kafka" / "data" / "meta.properties").write_text("node.id=1\n")  # as the storage tool leaves it
    check_cluster_size(one)  # the same size: fine
    with pytest.raises(PlatformError, match="1-broker cluster, not 3") as refused:
        check_cluster_size(load_settings(state_dir=tmp_path, kafka_brokers=3))
    assert "--state-dir" in str(refused.value) and "platform reset" in str(refused.value)


def test_the_state_directory_remembers_its_cluster_size(tmp_path: Path, clean_env: None) -> None:
    # `platform status` and `down` find all three nodes without --brokers.
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "brokers").write_text("3\n")
    assert load_settings(state_dir=tmp_path).kafka_services == ("kafka", "kafka-2", "kafka-3")
    assert load_settings(state_dir=tmp_path / "elsewhere").kafka_services == ("kafka",)


def test_an_invalid_broker_count_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "transit_status.cli", "--state-dir", str(tmp_path), "platform", "up", "--brokers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "1 or 3 brokers" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "kafka").exists()  # nothing was prepared


def test_every_node_is_formatted_with_the_cluster_id_made_first(three: Settings) -> None:
    first = cluster_id(three)
    assert [cluster_id(three) for _ in three.kafka_nodes] == [first] * 3
    assert (three.state_dir / "kafka" / "cluster.id").read_text() == first
    assert sorted(path.name for path in (three.state_dir / "kafka").iterdir()) == ["cluster.id"]  # no leftovers


def test_one_broker_leaves_the_other_nodes_ports_to_anything_else(tmp_path: Path, clean_env: None) -> None:
    # A second one-broker stack shifted by 100 ports takes 9192 for its broker.
    assert load_settings(state_dir=tmp_path, kafka_port=9192).kafka_nodes[0].port == 9192
    with pytest.raises(ValidationError, match="both use port 9192"):
        load_settings(state_dir=tmp_path, kafka_brokers=3, kafka_port=9192)


def test_three_brokers_with_one_replica_asked_for_keep_the_brokers_defaults_writable(three: Settings) -> None:
    config = broker_properties(three.with_overrides(replication_factor=1), three.kafka_nodes[0])
    assert config["default.replication.factor"] == config["min.insync.replicas"] == "1"


def test_a_garbled_cluster_size_file_is_named(tmp_path: Path, clean_env: None) -> None:
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "brokers").write_text("three\n")
    with pytest.raises(ValidationError, match="kafka/brokers should hold the Kafka cluster's size"):
        load_settings(state_dir=tmp_path)
