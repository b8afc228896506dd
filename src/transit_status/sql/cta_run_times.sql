-- Run times between consecutive stations, learned from the arrivals (docs/PREDICTIONS.md): for each line,
-- direction and pair of stations a train calls at one after the other, the typical time from arriving at
-- the first to arriving at the second (its dwell there included), over that leg's last 5 runs, in the
-- network's own time (the arrivals' simulated_at: simulated time when the trains are simulated). The
-- dashboard adds them up along a train's way to predict when it reaches each station ahead. Every run of a
-- leg updates it, so a slower service shows within a few trains. Records that are not valid arrivals go to
-- the dead-letter topic. Runs after tables.sql.

-- A partition with no arrivals for a while (a quiet topic, one train in a test) must not hold back event
-- time: the legs follow the partitions that have trains.
SET 'table.exec.source.idle-timeout' = '2 s';
-- No mini-batches: on an event-time source the mini-batch assigner holds the watermarks back.
SET 'table.exec.mini-batch.enabled' = 'false';

-- The arrivals as the simulation (or a feed adapter) writes them: Confluent Avro key (arrival_key) and
-- value (arrival_value), read as raw bytes so that one bad record becomes a dead letter, not a failed job.
-- Event time is the arrival's simulated_at (the network's clock), not the Kafka timestamp (the wall clock
-- of the producer, which runs slower than a simulation). A record whose simulated_at cannot be read gets
-- time 0, which never moves event time on; it is dead-lettered below. Each train's arrivals share a
-- partition (keyed by train) and come in order; the watermark's slack covers partitions read unevenly.
CREATE TEMPORARY TABLE cta_arrivals_raw (
  record_key   BYTES,
  record_value BYTES,
  `partition`  INT                 METADATA FROM 'partition' VIRTUAL,
  `offset`     BIGINT              METADATA FROM 'offset'    VIRTUAL,
  headers      MAP<STRING, BYTES>  METADATA FROM 'headers'   VIRTUAL,
  event_time AS TO_TIMESTAMP_LTZ(
    COALESCE(TRY_CAST(CONFLUENT_AVRO_FIELD(record_value, '${schema_registry_url}', 'simulated_at') AS BIGINT), 0), 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '30' SECOND
) WITH (
  'topic' = '${topic_arrivals}',
  -- Offsets committed at each checkpoint under this group, so the watchdog can see the job's lag.
  'properties.group.id' = '${run_times_group}'
) LIKE template_raw_source (OVERWRITING OPTIONS);

-- The learned run times (the run-times topic's contract): compacted, JSON key {"line", "direction",
-- "from_station_id", "to_station_id"}, JSON value with the key's fields and run_seconds (the typical run),
-- samples (runs it is made of, at most 5), min_seconds and max_seconds of those runs, and learned_at
-- (the network time of the newest, epoch ms).
CREATE TEMPORARY TABLE cta_run_times (
  line            STRING,
  direction       STRING,
  from_station_id INT,
  to_station_id   INT,
  run_seconds     DOUBLE,
  samples         BIGINT,
  min_seconds     DOUBLE,
  max_seconds     DOUBLE,
  learned_at      BIGINT,
  PRIMARY KEY (line, direction, from_station_id, to_station_id) NOT ENFORCED
) WITH (
  'topic' = '${topic_run_times}',
  'sink.transactional-id-prefix' = '${run_times_transactional_id_prefix}-run-times'
) LIKE template_count_sink (OVERWRITING OPTIONS);

-- This job's dead letters: the shared topic and headers, its own transactions (a prefix shared with
-- another job would fence that job's producers).
CREATE TEMPORARY TABLE cta_run_times_dead_letters WITH (
  'sink.transactional-id-prefix' = '${run_times_transactional_id_prefix}-dead-letters'
) LIKE dead_letters (OVERWRITING OPTIONS);

-- Each record decoded once into the columns the legs need, and checked against the contract.
CREATE TEMPORARY VIEW cta_arrivals_checked AS
SELECT
  arrival.record_key,
  arrival.record_value,
  arrival.`partition`,
  arrival.`offset`,
  arrival.headers,
  arrival.event_time,
  decoded.value_fields.train_id AS train_id,
  decoded.value_fields.line AS line,
  decoded.value_fields.direction AS direction,
  decoded.value_fields.station_id AS station_id,
  decoded.value_fields.train_status AS train_status,
  decoded.value_fields.prev_station_id AS prev_station_id,
  decoded.value_fields.simulated_at AS simulated_at,
  CASE
    WHEN decoded.error IS NOT NULL THEN decoded.error
    WHEN decoded.key_fields.train_id IS NULL OR decoded.value_fields.train_id IS NULL
      OR decoded.value_fields.line IS NULL OR decoded.value_fields.station_id IS NULL
      OR decoded.value_fields.train_status IS NULL OR decoded.value_fields.simulated_at IS NULL
      THEN 'train_id (key and value), line, station_id, train_status and simulated_at must not be null'
    WHEN decoded.key_fields.train_id <> decoded.value_fields.train_id
      THEN 'key train_id ' || decoded.key_fields.train_id || ' differs from value train_id '
           || decoded.value_fields.train_id
    WHEN decoded.value_fields.direction IS NULL OR decoded.value_fields.direction NOT IN ('a', 'b')
      THEN 'direction must be a or b'
    WHEN decoded.value_fields.simulated_at <= 0 THEN 'simulated_at must be a time after 1970'
  END AS error
FROM cta_arrivals_raw AS arrival,
  LATERAL TABLE(CONFLUENT_AVRO_DECODE(
    arrival.record_key, arrival.record_value, '${schema_registry_url}',
    'train_id STRING',  -- arrival_key; below, the fields of arrival_value the legs need (a literal: it types the row)
    'train_id STRING, line STRING, direction STRING, station_id INT, train_status STRING, prev_station_id INT, simulated_at BIGINT'
  )) AS decoded(key_fields, value_fields, error);

-- Each arrival beside the same train's report before it, in event time (LAG over the train's reports).
CREATE TEMPORARY VIEW cta_train_steps AS
SELECT
  line,
  direction,
  station_id AS to_station_id,
  prev_station_id,
  simulated_at,
  event_time,
  LAG(station_id) OVER train_reports AS from_station_id,
  LAG(direction) OVER train_reports AS from_direction,
  LAG(line) OVER train_reports AS from_line,
  LAG(train_status) OVER train_reports AS from_status,
  LAG(prev_station_id) OVER train_reports AS from_prev_station_id,
  LAG(simulated_at) OVER train_reports AS from_simulated_at
FROM cta_arrivals_checked
WHERE error IS NULL
-- (LAG takes no frame; its state per train is the previous row only.)
WINDOW train_reports AS (PARTITION BY train_id ORDER BY event_time);

-- A run: two consecutive reports of one train on one line, one way, at two stations. Not runs:
-- * a turnaround (the direction changes at a terminal: the layover, not a run);
-- * a hold: the train was broken down (held for minutes) or out of service (waiting for its next trip)
--   at the first station;
-- * the leg from where a train was first seen (no prev_station_id): it was somewhere along the leg, so
--   the time to the next station is shorter than a run;
-- * the step to a train's first sighting (no prev_station_id): a restarted producer places its trains
--   anew, on a clock that goes on from the last run's (producers/resume.py), so the report before it is
--   the old run's, not where this train came from;
-- * more than 30 minutes between the two: reports were lost in between.
CREATE TEMPORARY VIEW cta_runs AS
SELECT
  line,
  direction,
  from_station_id,
  to_station_id,
  CAST(simulated_at - from_simulated_at AS DOUBLE) / 1000 AS run_s,
  simulated_at,
  event_time
FROM cta_train_steps
WHERE from_station_id IS NOT NULL
  AND from_station_id <> to_station_id
  AND from_direction = direction
  AND from_line = line
  AND from_status = 'in_service'
  AND from_prev_station_id IS NOT NULL
  AND prev_station_id IS NOT NULL
  AND simulated_at > from_simulated_at
  AND simulated_at - from_simulated_at <= 30 * 60 * 1000;

-- The typical run of a leg, after each of its runs: over its last 5 runs, the mean without the fastest and
-- the slowest (one odd run, such as a train held without being reported broken down, moves it little);
-- the plain mean while there are fewer than 4.
CREATE TEMPORARY VIEW cta_leg_typical AS
SELECT
  line,
  direction,
  from_station_id,
  to_station_id,
  IF(runs >= 4, (total_s - fastest_s - slowest_s) / (runs - 2), total_s / runs) AS run_seconds,
  runs AS samples,
  fastest_s AS min_seconds,
  slowest_s AS max_seconds,
  simulated_at AS learned_at
FROM (
  SELECT
    line,
    direction,
    from_station_id,
    to_station_id,
    simulated_at,
    SUM(run_s) OVER leg_runs AS total_s,
    COUNT(*) OVER leg_runs AS runs,
    MIN(run_s) OVER leg_runs AS fastest_s,
    MAX(run_s) OVER leg_runs AS slowest_s
  FROM cta_runs
  WINDOW leg_runs AS (
    PARTITION BY line, direction, from_station_id, to_station_id
    ORDER BY event_time ROWS BETWEEN 4 PRECEDING AND CURRENT ROW
  )
);

-- One job, one read of the arrivals: the legs' typical run times, and the bad records.
EXECUTE STATEMENT SET
BEGIN
  -- The newest typical run per leg. Grouped by the sink's key, so the sink's upserts are keyed as the
  -- topic is (each group keeps one row: the latest of each column).
  INSERT INTO cta_run_times
  SELECT
    line,
    direction,
    from_station_id,
    to_station_id,
    LAST_VALUE(run_seconds),
    LAST_VALUE(samples),
    LAST_VALUE(min_seconds),
    LAST_VALUE(max_seconds),
    MAX(learned_at)
  FROM cta_leg_typical
  GROUP BY line, direction, from_station_id, to_station_id;

  INSERT INTO cta_run_times_dead_letters
  SELECT
    record_key,
    record_value,
    MAP_UNION(
      COALESCE(headers, MAP['dlq.topic', ENCODE('${topic_arrivals}', 'UTF-8')]),
      MAP[
        'dlq.topic', ENCODE('${topic_arrivals}', 'UTF-8'),
        'dlq.partition', ENCODE(CAST(`partition` AS STRING), 'UTF-8'),
        'dlq.offset', ENCODE(CAST(`offset` AS STRING), 'UTF-8'),
        'dlq.error', ENCODE(error, 'UTF-8'),
        'dlq.consumer', ENCODE('flink.cta-run-times', 'UTF-8')
      ]
    )
  FROM cta_arrivals_checked
  WHERE error IS NOT NULL;
END;
