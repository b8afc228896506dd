-- The tables and functions every transit-status SQL session starts with (`transit-status sql` runs this
-- file first, and so does each job). Placeholders such as ${bootstrap_servers} are filled in from the settings (topics,
-- addresses), so the same file serves the embedded platform, the tests' private topics and a cluster.

-- Turnstile entries as the simulation writes them: Confluent Avro key (turnstile_key) and value
-- (turnstile_value). Read as raw bytes, not with the avro-confluent format, which fails the whole job on
-- one bad record: CONFLUENT_AVRO_DECODE below turns bad records into dead letters instead.
CREATE TABLE IF NOT EXISTS turnstile_entries_raw (
  record_key   BYTES,
  record_value BYTES,
  `partition`  INT                 METADATA FROM 'partition' VIRTUAL,
  `offset`     BIGINT              METADATA FROM 'offset'    VIRTUAL,
  headers      MAP<STRING, BYTES>  METADATA FROM 'headers'   VIRTUAL
) WITH (
  'connector' = 'kafka',
  'topic' = '${topic_turnstiles}',
  'properties.bootstrap.servers' = '${bootstrap_servers}',
  'properties.isolation.level' = 'read_committed',
  -- Only for a first start: a restored job resumes from the offsets in its checkpoint.
  'scan.startup.mode' = 'earliest-offset',
  'key.format' = 'raw',
  'key.fields' = 'record_key',
  'value.format' = 'raw',
  'value.fields-include' = 'EXCEPT_KEY'
);

-- Entries counted so far per station: the summary topic's contract (compacted; JSON key {"station_id"},
-- JSON value {"station_id", "station_name", "count"}), which the dashboard reads.
CREATE TABLE IF NOT EXISTS turnstile_summary (
  station_id   INT,
  station_name STRING,
  `count`      BIGINT,
  PRIMARY KEY (station_id) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = '${topic_turnstile_summary}',
  'properties.bootstrap.servers' = '${bootstrap_servers}',
  'properties.isolation.level' = 'read_committed',
  'key.format' = 'json',
  'value.format' = 'json',
  'value.fields-include' = 'ALL',
  -- Exactly once: each checkpoint's records are one Kafka transaction, committed when the checkpoint
  -- completes, so a read_committed reader (the dashboard) never sees a count that a restart takes back.
  -- The cost: counts appear once per checkpoint interval. (At-least-once would also end exact, since
  -- every record is an absolute count per key, but a reader could see a count go back after a crash.)
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = '${transactional_id_prefix}-summary',
  -- Within the broker's transaction.max.timeout.ms (15 min); Flink's default (1 h) is refused.
  'properties.transaction.timeout.ms' = '600000'
);

-- Records no consumer could decode: bytes unchanged, original headers kept, plus the dlq.* headers
-- (topic, partition, offset, error, consumer), as every transit-status consumer writes them.
CREATE TABLE IF NOT EXISTS dead_letters (
  record_key   BYTES,
  record_value BYTES,
  headers      MAP<STRING, BYTES> METADATA FROM 'headers'
) WITH (
  'connector' = 'kafka',
  'topic' = '${topic_dead_letters}',
  'properties.bootstrap.servers' = '${bootstrap_servers}',
  'key.format' = 'raw',
  'key.fields' = 'record_key',
  'value.format' = 'raw',
  'value.fields-include' = 'EXCEPT_KEY',
  -- In the same checkpoint transactions as the counts: a record is counted or dead-lettered, once.
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = '${transactional_id_prefix}-dead-letters',
  'properties.transaction.timeout.ms' = '600000'
);

-- (key bytes, value bytes, registry URL, 'key columns', 'value columns') -> one row (key_fields ROW<...>,
-- value_fields ROW<...>, error): Confluent Avro decoded against the Schema Registry into the columns
-- asked for (e.g. 'station_id INT, station_name STRING'), or why it cannot be
-- (jars/flink-functions/src/main/java/io/transitstatus/flink/ConfluentAvroDecode.java).
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS CONFLUENT_AVRO_DECODE
  AS 'io.transitstatus.flink.ConfluentAvroDecode' LANGUAGE JAVA;
