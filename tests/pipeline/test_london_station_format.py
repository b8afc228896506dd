"""Which converter London's stations connector uses, and that the setup builds it where Connect finds it
(pure: no servers)."""

from __future__ import annotations

from pathlib import Path

from transit_status.config import PROJECT_ROOT, Settings
from transit_status.pipeline.connectors import london_stations_connector_config
from transit_status.platform import jvm

CONVERTER_SOURCES = PROJECT_ROOT / "jars" / jvm.AVRO_CONVERTER_POM / "src" / "main"


def test_station_rows_are_avro_through_the_registry_by_default_with_a_json_key(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    config = london_stations_connector_config(settings)
    assert config["value.converter"] == jvm.AVRO_CONVERTER_CLASS
    assert config["value.converter.schema.registry.url"] == settings.schema_registry_url
    assert config["key.converter"] == "org.apache.kafka.connect.json.JsonConverter"


def test_json_stays_an_option(tmp_path: Path) -> None:
    config = london_stations_connector_config(Settings(state_dir=tmp_path, london_station_format="json"))
    assert config["value.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    assert not any("schema.registry" in key for key in config)


def test_the_converter_class_is_the_one_built_and_declared_for_connect() -> None:
    # Connect's worker finds plugins through their service manifests (plugin.discovery=service_load).
    manifest = CONVERTER_SOURCES / "resources" / "META-INF" / "services" / "org.apache.kafka.connect.storage.Converter"
    assert manifest.read_text().split() == [jvm.AVRO_CONVERTER_CLASS]
    source = CONVERTER_SOURCES / "java" / Path(*jvm.AVRO_CONVERTER_CLASS.split(".")).with_suffix(".java")
    assert source.is_file()


def test_setup_builds_the_converter_into_connects_plugin_path_and_compiles_outside_it(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, jars_dir=tmp_path / "jars")
    outputs = dict(jvm._poms(settings))
    output = outputs[jvm.POMS_DIR / jvm.AVRO_CONVERTER_POM / "pom.xml"]
    assert output.parent == jvm.plugin_path(settings)
    assert not jvm._build_dir(settings, output).is_relative_to(jvm.plugin_path(settings))
