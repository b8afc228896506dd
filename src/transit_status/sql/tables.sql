-- The tables and functions every transit-status SQL session starts with (`transit-status sql` runs this
-- file first, and so does each job). Placeholders such as ${bootstrap_servers} are filled in from the settings (topics,
-- addresses), so the same file serves the embedded platform, the tests' private topics and a cluster.
-- $${kafka_security} is the settings' Kafka security as 'properties.*' options (at least
-- 'properties.security.protocol'), each followed by a comma; every Kafka table copies it from a template.

-- ---- Templates -------------------------------------------------------------------------------------
-- The template_* tables hold the options several tables share; a table copies them with
-- `LIKE template_... (OVERWRITING OPTIONS)` and states only what differs (its columns, topic, formats,
-- transactional-id prefix). No job reads or writes a template: they have no columns and no topic.
-- Temporary: they only serve the CREATE TABLEs below, in this session.

-- Kafka records read as raw bytes (columns record_key, record_value), committed records only.
CREATE TEMPORARY TABLE IF NOT EXISTS template_raw_source WITH (
  'connector' = 'kafka',
  'properties.bootstrap.servers' = '${bootstrap_servers}',
  ${kafka_security}
  'properties.isolation.level' = 'read_committed',
  -- Only for a first start: a restored job resumes from the offsets in its checkpoint.
  'scan.startup.mode' = 'earliest-offset',
  'key.format' = 'raw',
  'key.fields' = 'record_key',
  'value.format' = 'raw',
  'value.fields-include' = 'EXCEPT_KEY'
);

-- Every Flink sink here writes exactly once: each checkpoint's records are one Kafka transaction,
-- committed when the checkpoint completes, so a read_committed reader (the dashboards, the OpenSearch
-- and PostgreSQL sinks) never sees a record that a restart takes back. The cost: records appear once
-- per checkpoint interval. Each sink table sets its own 'sink.transactional-id-prefix': two sinks
-- sharing one would fence each other's producers.
CREATE TEMPORARY TABLE IF NOT EXISTS template_exactly_once_sink WITH (
  'connector' = 'kafka',
  'properties.bootstrap.servers' = '${bootstrap_servers}',
  ${kafka_security}
  'sink.delivery-guarantee' = 'exactly-once',
  -- Within the broker's transaction.max.timeout.ms (15 min); Flink's default (1 h) is refused.
  'properties.transaction.timeout.ms' = '600000'
);

-- A count table: compacted, JSON key (the primary key's columns) and JSON value (all columns); every
-- record is an absolute count per key. (At-least-once would also end exact, but a reader could see a
-- count go back after a crash.)
CREATE TEMPORARY TABLE IF NOT EXISTS template_count_sink WITH (
  'connector' = 'upsert-kafka',
  'properties.isolation.level' = 'read_committed',
  'key.format' = 'json',
  'value.format' = 'json',
  'value.fields-include' = 'ALL'
) LIKE template_exactly_once_sink (OVERWRITING OPTIONS);

-- ---- Chicago ----------------------------------------------------------------------------------------

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
  'topic' = '${topic_turnstiles}',
  -- Offsets committed at each checkpoint under this group, so the watchdog can see the job's lag.
  'properties.group.id' = '${turnstile_summary_group}'
) LIKE template_raw_source (OVERWRITING OPTIONS);

-- Entries counted so far per station: the summary topic's contract (compacted; JSON key {"station_id"},
-- JSON value {"station_id", "station_name", "count"}), which the dashboard reads.
CREATE TABLE IF NOT EXISTS turnstile_summary (
  station_id   INT,
  station_name STRING,
  `count`      BIGINT,
  PRIMARY KEY (station_id) NOT ENFORCED
) WITH (
  'topic' = '${topic_turnstile_summary}',
  'sink.transactional-id-prefix' = '${transactional_id_prefix}-summary'
) LIKE template_count_sink (OVERWRITING OPTIONS);

-- Records no consumer could decode: bytes unchanged, original headers kept, plus the dlq.* headers
-- (topic, partition, offset, error, consumer), as every transit-status consumer writes them.
CREATE TABLE IF NOT EXISTS dead_letters (
  record_key   BYTES,
  record_value BYTES,
  headers      MAP<STRING, BYTES> METADATA FROM 'headers'
) WITH (
  'topic' = '${topic_dead_letters}',
  'key.format' = 'raw',
  'key.fields' = 'record_key',
  'value.format' = 'raw',
  'value.fields-include' = 'EXCEPT_KEY',
  -- In the same checkpoint transactions as the counts: a record is counted or dead-lettered, once.
  'sink.transactional-id-prefix' = '${transactional_id_prefix}-dead-letters'
) LIKE template_exactly_once_sink (OVERWRITING OPTIONS);

-- (key bytes, value bytes, registry URL, 'key columns', 'value columns') -> one row (key_fields ROW<...>,
-- value_fields ROW<...>, error): Confluent Avro decoded against the Schema Registry into the columns
-- asked for (e.g. 'station_id INT, station_name STRING'), or why it cannot be
-- (jars/flink-functions/src/main/java/io/transitstatus/flink/ConfluentAvroDecode.java).
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS CONFLUENT_AVRO_DECODE
  AS 'io.transitstatus.flink.ConfluentAvroDecode' LANGUAGE JAVA;

-- (bytes, registry URL, 'field') -> that top-level field of a Confluent Avro record as text, or NULL when it
-- cannot be read: a scalar function, for a computed column (a table function cannot go there)
-- (jars/flink-functions/src/main/java/io/transitstatus/flink/ConfluentAvroField.java).
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS CONFLUENT_AVRO_FIELD
  AS 'io.transitstatus.flink.ConfluentAvroField' LANGUAGE JAVA;

-- ---- London (docs/ARCHITECTURE.md, "London") ---------------------------------------------------------

-- Barrier taps from both topics (entries, exits), read as raw bytes: each record is decoded (JSON or
-- Confluent Avro) and validated in the job (london_barriers.sql), so one malformed record becomes a
-- dead letter instead of failing the job.
-- Event time is the Kafka record timestamp (the barrier's tap time, as the producer stamps it).
CREATE TABLE IF NOT EXISTS london_barriers_raw (
  record_key   BYTES,
  record_value BYTES,
  topic        STRING                  METADATA FROM 'topic'     VIRTUAL,
  `partition`  INT                     METADATA FROM 'partition' VIRTUAL,
  `offset`     BIGINT                  METADATA FROM 'offset'    VIRTUAL,
  headers      MAP<STRING, BYTES>      METADATA FROM 'headers'   VIRTUAL,
  tapped_at    TIMESTAMP_LTZ(3)        METADATA FROM 'timestamp' VIRTUAL,
  -- Taps arrive almost in order per partition; a little slack for the producer's batching.
  WATERMARK FOR tapped_at AS tapped_at - INTERVAL '1' SECOND
) WITH (
  'topic' = '${topic_london_entries};${topic_london_exits}',
  -- Offsets committed at each checkpoint under this group, so the watchdog can see the job's lag.
  'properties.group.id' = '${london_barriers_group}'
) LIKE template_raw_source (OVERWRITING OPTIONS);

-- London's stations as Debezium streams them from MariaDB: compacted, key = the primary key as JSON
-- ({"nlc": 513}, TfL's stable id, which a rename keeps), value = the flat row in Confluent Avro through
-- the registry (the original design's stations_tb, value_format 'AVRO'; subject <topic>-value) or, with
-- TRANSIT_LONDON_STATION_FORMAT=json, as JSON; either is read, whichever a record is in. A deleted
-- station's tombstone = a null value. Read as raw bytes, as a log: every version of every station,
-- tombstones included (a JSON or upsert source would skip them or hide their time). Each version is
-- valid from its modified_date (Debezium writes a TIMESTAMP column as ISO-8601 UTC,
-- "2024-05-01T08:15:00Z"); a tombstone, which has none, from its Kafka timestamp.
CREATE TABLE IF NOT EXISTS london_station_rows (
  record_key   BYTES,
  record_value BYTES,
  written_at   TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  read_at AS PROCTIME(),
  -- Read as UTC whatever the session's time zone. CAST, not DECODE: Flink 2.3 cannot compile DECODE in
  -- a watermark's computed column (its generated code leaves an UnsupportedEncodingException uncaught).
  -- The Avro field is NULL for a JSON record, and JSON_VALUE is NULL for an Avro one.
  valid_from AS COALESCE(
    TO_TIMESTAMP_LTZ(UNIX_TIMESTAMP(
      SUBSTRING(COALESCE(
        CONFLUENT_AVRO_FIELD(record_value, '${schema_registry_url}', 'modified_date'),
        JSON_VALUE(CAST(record_value AS STRING), '$$.modified_date' NULL ON ERROR)
      ) FROM 1 FOR 19) || 'Z',
      'yyyy-MM-dd''T''HH:mm:ssX') * 1000, 3),
    written_at
  ),
  WATERMARK FOR valid_from AS valid_from
) WITH (
  'topic' = '${topic_london_station_rows}'
) LIKE template_raw_source (OVERWRITING OPTIONS);

-- The original design's stations topic, keyed by each station's current name (the key as plain text,
-- the value the same flat JSON row). London's job writes it from london_station_rows: when a station
-- is renamed or deleted, its old name gets a tombstone. Readable as an upsert table in the SQL shell.
CREATE TABLE IF NOT EXISTS london_stations (
  name          STRING,
  location      STRING,
  modified_date STRING,
  nlc           INT,
  zone          STRING,
  `lines`       STRING,
  latitude      DOUBLE,
  longitude     DOUBLE,
  PRIMARY KEY (name) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = '${topic_london_stations}',
  'properties.isolation.level' = 'read_committed',
  'key.format' = 'raw',
  'value.format' = 'json',
  'value.json.ignore-parse-errors' = 'true',
  'value.fields-include' = 'ALL',
  'sink.transactional-id-prefix' = '${london_transactional_id_prefix}-station-names'
) LIKE template_exactly_once_sink (OVERWRITING OPTIONS);

-- The original design's enriched streams: key = station name (text); value JSON {"@timestamp", "user",
-- "delta", "station", "location", "known"}. Exactly once, like every Flink sink here: the OpenSearch
-- and PostgreSQL sinks read committed records only, so a Flink restart never duplicates a tap.
CREATE TABLE IF NOT EXISTS london_station_entries (
  `@timestamp` STRING,
  `user`       STRING,
  delta        INT,
  station      STRING,
  location     STRING,
  known        BOOLEAN
) WITH (
  'topic' = '${topic_london_station_entries}',
  'key.format' = 'raw',
  'key.fields' = 'station',
  'value.format' = 'json',
  'value.fields-include' = 'ALL',
  'sink.transactional-id-prefix' = '${london_transactional_id_prefix}-entries'
) LIKE template_exactly_once_sink (OVERWRITING OPTIONS);

-- Exits: the entries table's columns and options on their own topic, in their own transactions.
CREATE TABLE IF NOT EXISTS london_station_exits WITH (
  'topic' = '${topic_london_station_exits}',
  'sink.transactional-id-prefix' = '${london_transactional_id_prefix}-exits'
) LIKE london_station_entries (OVERWRITING OPTIONS);

-- London's counts change on every barrier tap, and each change used to be one record (a line's count
-- thousands of times a minute); the London page replays these topics on start. The sink keeps only the
-- newest row per key and writes them when the checkpoint's transaction is flushed, so each key is
-- written at most once per checkpoint and readers see exactly what they saw before. The interval only
-- matters when a checkpoint is late (the checkpoint's flush resets it); max-rows is distinct keys. Not
-- mini-batches: they would hold back the job's watermarks (london_barriers.sql says why).
CREATE TEMPORARY TABLE IF NOT EXISTS template_london_count_sink WITH (
  'sink.buffer-flush.max-rows' = '2000',
  'sink.buffer-flush.interval' = '10 s'
) LIKE template_count_sink (OVERWRITING OPTIONS);

-- Counted so far per station (compacted; JSON key {"station"}), read by the London dashboard.
CREATE TABLE IF NOT EXISTS london_station_activity (
  station STRING,
  known   BOOLEAN,
  entries BIGINT,
  exits   BIGINT,
  inside  BIGINT,
  PRIMARY KEY (station) NOT ENFORCED
) WITH (
  'topic' = '${topic_london_station_activity}',
  'sink.transactional-id-prefix' = '${london_transactional_id_prefix}-stations'
) LIKE template_london_count_sink (OVERWRITING OPTIONS);

-- Counted so far per line (compacted; JSON key {"line"}).
CREATE TABLE IF NOT EXISTS london_line_activity (
  line    STRING,
  entries BIGINT,
  exits   BIGINT,
  inside  BIGINT,
  PRIMARY KEY (line) NOT ENFORCED
) WITH (
  'topic' = '${topic_london_line_activity}',
  'sink.transactional-id-prefix' = '${london_transactional_id_prefix}-lines'
) LIKE template_london_count_sink (OVERWRITING OPTIONS);

-- Entries and exits per station in closed 1- and 15-minute tumbling windows (event time); JSON key
-- {"station", "window_minutes", "window_start"}; times ISO-8601 UTC.
CREATE TABLE IF NOT EXISTS london_station_windows (
  station        STRING,
  window_minutes INT,
  window_start   STRING,
  window_end     STRING,
  entries        BIGINT,
  exits          BIGINT
) WITH (
  'topic' = '${topic_london_station_windows}',
  'key.format' = 'json',
  'key.fields' = 'station;window_minutes;window_start',
  'value.format' = 'json',
  'value.fields-include' = 'ALL',
  'sink.transactional-id-prefix' = '${london_transactional_id_prefix}-windows'
) LIKE template_exactly_once_sink (OVERWRITING OPTIONS);

-- London's dead letters: the same topic, columns and headers as dead_letters, its own transactions (two
-- jobs sharing one transactional-id prefix would fence each other's producers).
CREATE TABLE IF NOT EXISTS london_dead_letters WITH (
  'sink.transactional-id-prefix' = '${london_transactional_id_prefix}-dead-letters'
) LIKE dead_letters (OVERWRITING OPTIONS);

-- ---- Chicago: service health (sql/cta_service_health.sql; docs/ARCHITECTURE.md, "Service health") -----

-- Arrivals as the simulation or a feed writes them: Confluent Avro key (arrival_key) and value
-- (arrival_value), read as raw bytes (bad records become dead letters, as for the turnstiles). The event
-- time is the value's simulated_at, read in a computed column so the watermark can follow it; a record
-- whose simulated_at cannot be read gets the epoch, which never moves the watermark (it is dead-lettered).
CREATE TABLE IF NOT EXISTS cta_arrivals_raw (
  record_key   BYTES,
  record_value BYTES,
  `partition`  INT                 METADATA FROM 'partition' VIRTUAL,
  `offset`     BIGINT              METADATA FROM 'offset'    VIRTUAL,
  headers      MAP<STRING, BYTES>  METADATA FROM 'headers'   VIRTUAL,
  arrived_at AS COALESCE(
    TO_TIMESTAMP_LTZ(TRY_CAST(CONFLUENT_AVRO_FIELD(record_value, '${schema_registry_url}', 'simulated_at') AS BIGINT), 3),
    TO_TIMESTAMP_LTZ(0, 3)
  ),
  -- Each train's reports are in order in its partition; a little slack for the producer's batching.
  WATERMARK FOR arrived_at AS arrived_at - INTERVAL '2' SECOND
) WITH (
  'topic' = '${topic_arrivals}',
  -- Offsets committed at each checkpoint under this group, so the watchdog can see the job's lag.
  'properties.group.id' = '${cta_service_health_group}'
) LIKE template_raw_source (OVERWRITING OPTIONS);

-- The schedule per (line, station, direction), written from the network by the pipeline at start
-- (pipeline/schedule.py): headway_s, the scheduled time between trains of the line's all-day routes
-- (null where only part-time service calls); min_headway_s, with every route of the line running;
-- run_s, the scheduled time from a train's report here to its next one (dwell + run; at a terminal,
-- the layover). Versioned (event-time temporal join) and valid from the epoch: the schedule applies to
-- every arrival, whatever its simulated date; a newer version of a row (a new network) replaces it.
CREATE TABLE IF NOT EXISTS cta_schedule (
  line          STRING,
  station_id    INT,
  direction     STRING,
  station_name  STRING,
  headway_s     DOUBLE,
  min_headway_s DOUBLE,
  run_s         DOUBLE,
  valid_from AS TO_TIMESTAMP_LTZ(0, 3),
  WATERMARK FOR valid_from AS valid_from,
  PRIMARY KEY (line, station_id, direction) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = '${topic_cta_schedule}',
  'properties.isolation.level' = 'read_committed',
  'key.format' = 'json',
  'value.format' = 'json',
  'value.fields-include' = 'ALL',
  -- Only read (the pipeline writes it); the template's sink options need a prefix all the same.
  'sink.transactional-id-prefix' = '${cta_health_transactional_id_prefix}-schedule'
) LIKE template_exactly_once_sink (OVERWRITING OPTIONS);

-- Measured headway at every arrival: time since the previous train of the line at that platform.
CREATE TABLE IF NOT EXISTS cta_headways (
  line                STRING,
  station_id          INT,
  station_name        STRING,
  direction           STRING,
  train_id            STRING,
  previous_train_id   STRING,
  arrived_ms          BIGINT,
  headway_s           DOUBLE,
  scheduled_headway_s DOUBLE,
  min_headway_s       DOUBLE
) WITH (
  'topic' = '${topic_cta_headways}',
  'key.format' = 'json',
  'key.fields' = 'line;station_id;direction',
  'value.format' = 'json',
  'value.fields-include' = 'ALL',
  'sink.transactional-id-prefix' = '${cta_health_transactional_id_prefix}-headways'
) LIKE template_exactly_once_sink (OVERWRITING OPTIONS);

-- Measured dwell: from a train's arrival at a station to its departure (arrival_value.prev_departed_at,
-- known when it reaches the next station; absent from feeds that do not report departures).
CREATE TABLE IF NOT EXISTS cta_dwells (
  line         STRING,
  station_id   INT,
  station_name STRING,
  direction    STRING,
  train_id     STRING,
  arrived_ms   BIGINT,
  departed_ms  BIGINT,
  dwell_s      DOUBLE
) WITH (
  'topic' = '${topic_cta_dwells}',
  'key.format' = 'json',
  'key.fields' = 'line;station_id;direction',
  'value.format' = 'json',
  'value.fields-include' = 'ALL',
  'sink.transactional-id-prefix' = '${cta_health_transactional_id_prefix}-dwells'
) LIKE template_exactly_once_sink (OVERWRITING OPTIONS);

-- Alerts: an 'open' record when a condition starts, a 'clear' record (same alert_id) when service
-- recovers; keyed by alert_id, so the newest record of each alert says whether it is open.
CREATE TABLE IF NOT EXISTS cta_service_alerts (
  alert_id     STRING,
  kind         STRING,
  state        STRING,
  line         STRING,
  station_id   INT,
  station_name STRING,
  direction    STRING,
  train_id     STRING,
  since_ms     BIGINT,
  at_ms        BIGINT,
  measured_s   DOUBLE,
  scheduled_s  DOUBLE,
  threshold_s  DOUBLE,
  reason       STRING
) WITH (
  'topic' = '${topic_cta_service_alerts}',
  'key.format' = 'json',
  'key.fields' = 'alert_id',
  'value.format' = 'json',
  'value.fields-include' = 'ALL',
  'sink.transactional-id-prefix' = '${cta_health_transactional_id_prefix}-alerts'
) LIKE template_exactly_once_sink (OVERWRITING OPTIONS);

-- The service-health job's dead letters: the same topic and headers, its own transactions.
CREATE TABLE IF NOT EXISTS cta_health_dead_letters WITH (
  'sink.transactional-id-prefix' = '${cta_health_transactional_id_prefix}-dead-letters'
) LIKE dead_letters (OVERWRITING OPTIONS);

-- ---- London: crowding alerts (sql/london_crowding.sql) -------------------------------------------------

-- London's own 15-minute windows (london_barriers.sql writes them, exactly once), read back with their
-- end as event time: each window is final when written, so the crowding job compares whole quarters.
CREATE TABLE IF NOT EXISTS london_windows_in (
  station        STRING,
  window_minutes INT,
  window_start   STRING,
  window_end     STRING,
  entries        BIGINT,
  -- The job's session reads and writes times in UTC (london_crowding.sql sets it), as they are written.
  ends_at AS TO_TIMESTAMP_LTZ(UNIX_TIMESTAMP(REPLACE(REPLACE(window_end, 'T', ' '), 'Z', '')) * 1000, 3),
  WATERMARK FOR ends_at AS ends_at
) WITH (
  'topic' = '${topic_london_station_windows}',
  'properties.group.id' = '${london_crowding_group}',
  -- The key is {"station", "window_minutes", "window_start"}; the value has those and the rest.
  'key.format' = 'json',
  'key.fields' = 'station;window_minutes;window_start',
  'value.format' = 'json',
  'value.fields-include' = 'EXCEPT_KEY',
  -- Our own job's output; a record it cannot read is skipped rather than failing the job.
  'key.json.ignore-parse-errors' = 'true',
  'value.json.ignore-parse-errors' = 'true'
) LIKE template_raw_source (OVERWRITING OPTIONS);

-- Typical entries per station, day type and local hour, and the day type of each local date: written
-- from the network by the pipeline (pipeline/schedule.py), valid from the epoch like the CTA schedule.
CREATE TABLE IF NOT EXISTS london_typical_entries (
  station  STRING,
  day_type STRING,
  `hour`   INT,
  entries  DOUBLE,
  valid_from AS TO_TIMESTAMP_LTZ(0, 3),
  WATERMARK FOR valid_from AS valid_from,
  PRIMARY KEY (station, day_type, `hour`) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = '${topic_london_typical_entries}',
  'properties.isolation.level' = 'read_committed',
  'key.format' = 'json',
  'value.format' = 'json',
  'value.fields-include' = 'ALL',
  'sink.transactional-id-prefix' = '${london_crowding_transactional_id_prefix}-typical'
) LIKE template_exactly_once_sink (OVERWRITING OPTIONS);

CREATE TABLE IF NOT EXISTS london_calendar (
  `day`    STRING,
  day_type STRING,
  valid_from AS TO_TIMESTAMP_LTZ(0, 3),
  WATERMARK FOR valid_from AS valid_from,
  PRIMARY KEY (`day`) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = '${topic_london_calendar}',
  'properties.isolation.level' = 'read_committed',
  'key.format' = 'json',
  'value.format' = 'json',
  'value.fields-include' = 'ALL',
  'sink.transactional-id-prefix' = '${london_crowding_transactional_id_prefix}-calendar'
) LIKE template_exactly_once_sink (OVERWRITING OPTIONS);

-- Crowding alerts: 'open' when a station's quarter hour is far above its typical one, 'clear' when a
-- later quarter is not; keyed by alert_id ('crowding:<station>').
CREATE TABLE IF NOT EXISTS london_crowding_alerts (
  alert_id         STRING,
  state            STRING,
  station          STRING,
  since            STRING,
  `at`             STRING,
  entries          BIGINT,
  typical_entries  DOUBLE,
  ratio            DOUBLE,
  day_type         STRING,
  reason           STRING
) WITH (
  'topic' = '${topic_london_crowding_alerts}',
  'key.format' = 'json',
  'key.fields' = 'alert_id',
  'value.format' = 'json',
  'value.fields-include' = 'ALL',
  'sink.transactional-id-prefix' = '${london_crowding_transactional_id_prefix}-alerts'
) LIKE template_exactly_once_sink (OVERWRITING OPTIONS);
