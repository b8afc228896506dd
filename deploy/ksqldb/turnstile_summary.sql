-- NOT RUN HERE: ksqlDB cannot be installed on this project's machines. This is the turnstile summary of
-- src/transit_status/sql/turnstile_summary.sql in ksqlDB syntax, for a Confluent deployment that runs
-- ksqlDB (the original design's KSQL layer). Same topics, same output contract: the dashboard reads
-- either. Topic names are the defaults of transit_status.config.Settings.

-- Exactly once, like the Flink job: ksqlDB's Kafka Streams runtime commits state, output and offsets
-- in one transaction.
SET 'processing.guarantee' = 'exactly_once_v2';
SET 'auto.offset.reset' = 'earliest';

-- A STREAM, not a TABLE: every record is one more entry. A TABLE over this topic would keep only the
-- latest record per key (station), so COUNT(*) would count each station once. The key (turnstile_key)
-- is not needed: the value carries station_id too.
CREATE STREAM turnstile_entries WITH (
    KAFKA_TOPIC = 'org.chicago.cta.turnstiles.v1',
    KEY_FORMAT = 'NONE',
    VALUE_FORMAT = 'AVRO'    -- columns (station_id, station_name, line, ...) from the registry's schema
  );

-- The count per station. GROUP BY makes station_id the key column; AS_VALUE copies it into the value
-- too, so the value is {"station_id", "station_name", "count"} as the summary contract says.
-- One difference from the contract: ksqlDB writes a single key column unwrapped, so the key is 40010,
-- not {"station_id": 40010}; the dashboard's summary reader (dashboard/contracts.py summary_change)
-- checks the key against the value and would have to accept a bare number on such a deployment.
CREATE TABLE turnstile_summary WITH (
    KAFKA_TOPIC = 'org.chicago.cta.turnstile.summary.v1',
    KEY_FORMAT = 'JSON',
    VALUE_FORMAT = 'JSON',
    PARTITIONS = 6
  ) AS
  SELECT
    station_id AS station_key,                 -- the key column, renamed so the value may use station_id
    AS_VALUE(station_id) AS `station_id`,
    LATEST_BY_OFFSET(station_name) AS `station_name`,
    COUNT(*) AS `count`
  FROM turnstile_entries
  GROUP BY station_id
  EMIT CHANGES;

-- Dead letters: ksqlDB skips records it cannot deserialize and logs them to its processing log
-- (topic <service id>ksql_processing_log) rather than to org.chicago.cta.dead-letters.v1 with the
-- dlq.* headers; a Confluent deployment reads that log instead.

-- The live view a user watches in the ksql CLI (the Flink shell's SELECT * FROM turnstile_summary):
-- SELECT * FROM turnstile_summary EMIT CHANGES;
