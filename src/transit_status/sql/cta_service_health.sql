-- Chicago's service health over the arrivals topic (runs after tables.sql; docs/ARCHITECTURE.md,
-- "Service health"): the headway at every platform, dwell times, and alerts for bunching, gaps and
-- held trains, each opened and cleared by an event-time record. All times are the arrivals' event time
-- (simulated_at), in epoch milliseconds; the scheduled values come from the cta_schedule reference
-- topic, which the pipeline writes from the network.
--
-- Absence (a gap: no train at a platform; a held train: no report from a train) has no record to react
-- to, and Flink SQL has no timers: MATCH_RECOGNIZE cannot emit timed-out matches, interval joins take
-- constant bounds only. So the job makes its own clock from event time: a hopping window per platform
-- and per train, sliding every ${service_tick_s} s, fires as the watermark passes each slide while the
-- key's last arrival is in it, carrying that last arrival. The one slide in which "last arrival +
-- threshold" falls opens the alert, so each alert opens once, at most one slide after it is due. The
-- windows span 40 minutes: thresholds (2 x the longest headway, 15 min; the longest run + margin) must
-- stay below that. Group windows, not window TVFs (which buffer in managed memory, which this
-- TaskManager does not have: london_barriers.sql says more).

-- A station's schedule rows do not change while the job runs: the reference source goes idle after its
-- first read, and idle sources must not hold back the watermark (London's job does the same).
SET 'table.exec.source.idle-timeout' = '2 s';
-- Window ends are turned into epoch milliseconds through text: read and written in UTC.
SET 'table.local-time-zone' = 'UTC';

CREATE TEMPORARY VIEW cta_arrivals_checked AS
SELECT
  arrival.record_key,
  arrival.record_value,
  arrival.`partition`,
  arrival.`offset`,
  arrival.headers,
  arrival.arrived_at,
  decoded.value_fields.simulated_at AS arrived_ms,
  decoded.value_fields.train_id AS train_id,
  decoded.value_fields.line AS line,
  decoded.value_fields.station_id AS station_id,
  decoded.value_fields.station_name AS station_name,
  decoded.value_fields.direction AS direction,
  decoded.value_fields.train_status AS train_status,
  -- A train's first report (no station before it): where a producer placed it or first saw it, not an arrival.
  decoded.value_fields.prev_station_id IS NULL AS first_report,
  -- Optional (arrival_value's newer field): NULL where the writer's schema has no departures.
  TRY_CAST(CONFLUENT_AVRO_FIELD(arrival.record_value, '${schema_registry_url}', 'prev_departed_at') AS BIGINT)
    AS prev_departed_ms,
  CASE
    WHEN decoded.error IS NOT NULL THEN decoded.error
    WHEN decoded.key_fields.train_id IS NULL OR decoded.value_fields.train_id IS NULL
      OR decoded.value_fields.line IS NULL OR decoded.value_fields.station_id IS NULL
      OR decoded.value_fields.station_name IS NULL OR decoded.value_fields.direction IS NULL
      OR decoded.value_fields.train_status IS NULL OR decoded.value_fields.simulated_at IS NULL
      THEN 'train_id (key and value), line, station_id, station_name, direction, train_status and simulated_at must not be null'
    WHEN decoded.key_fields.train_id <> decoded.value_fields.train_id
      THEN 'key train_id ' || decoded.key_fields.train_id || ' differs from value train_id '
           || decoded.value_fields.train_id
    WHEN decoded.value_fields.direction NOT IN ('a', 'b')
      THEN 'direction must be a or b, not ' || decoded.value_fields.direction
  END AS error
FROM cta_arrivals_raw AS arrival,
  LATERAL TABLE(CONFLUENT_AVRO_DECODE(
    arrival.record_key, arrival.record_value, '${schema_registry_url}',
    'train_id STRING',                                                                     -- arrival_key
    -- arrival_value: the fields the job needs (a literal: the function reads it when planning)
    'train_id STRING, line STRING, station_id INT, station_name STRING, direction STRING, train_status STRING, prev_station_id INT, simulated_at BIGINT'
  )) AS decoded(key_fields, value_fields, error);

-- Good arrivals with their platform's schedule (NULLs where the schedule has no such platform).
CREATE TEMPORARY VIEW cta_arrivals_scheduled AS
SELECT
  arrival.arrived_at, arrival.arrived_ms, arrival.train_id, arrival.line, arrival.station_id,
  arrival.station_name, arrival.direction, arrival.train_status, arrival.first_report, arrival.prev_departed_ms,
  schedule.headway_s, schedule.min_headway_s, schedule.run_s,
  -- When the train is overdue (held) if it has not been reported again.
  arrival.arrived_ms + CAST((schedule.run_s + ${service_held_margin_s}) * 1000 AS BIGINT) AS due_ms
FROM (SELECT * FROM cta_arrivals_checked WHERE error IS NULL) AS arrival
LEFT JOIN cta_schedule FOR SYSTEM_TIME AS OF arrival.arrived_at AS schedule
  ON arrival.line = schedule.line AND arrival.station_id = schedule.station_id
  AND arrival.direction = schedule.direction;

-- Trains in service only: one out of service (waiting for its next service window) is no headway.
CREATE TEMPORARY VIEW cta_service_arrivals AS
SELECT * FROM cta_arrivals_scheduled WHERE train_status <> 'out_of_service';

-- Every platform arrival with the two before it (the headway now, and the one before, for flips).
-- A headway is measured between two arrivals: one with a first report at either end is not measured
-- (a restarted simulation places its trains anew, next to where the last run's were).
CREATE TEMPORARY VIEW cta_platform_arrivals AS
SELECT
  line, station_id, station_name, direction, train_id, arrived_ms, headway_s, min_headway_s,
  LAG(train_id, 1) OVER platform AS previous_train_id,
  arrived_ms - LAG(arrived_ms, 1) OVER platform AS headway_ms,
  LAG(arrived_ms, 1) OVER platform - LAG(arrived_ms, 2) OVER platform AS previous_headway_ms,
  LAG(train_id, 1) OVER platform = LAG(train_id, 2) OVER platform AS previous_same_train,
  first_report OR COALESCE(LAG(first_report, 1) OVER platform, FALSE) AS unmeasured,
  COALESCE(LAG(first_report, 1) OVER platform, FALSE) OR COALESCE(LAG(first_report, 2) OVER platform, FALSE)
    AS previously_unmeasured
FROM cta_service_arrivals
WINDOW platform AS (PARTITION BY line, station_id, direction ORDER BY arrived_at);

-- Bunched: closer than a quarter of the tightest scheduled headway to the previous train (another
-- train: the same train reported twice is no bunching), on a measured headway.
CREATE TEMPORARY VIEW cta_platform_verdicts AS
SELECT
  *,
  headway_ms IS NOT NULL AND train_id <> previous_train_id AND NOT unmeasured
    AND headway_ms < min_headway_s * 1000 / 4 AS bunched,
  previous_headway_ms IS NOT NULL AND NOT COALESCE(previous_same_train, FALSE) AND NOT previously_unmeasured
    AND previous_headway_ms < min_headway_s * 1000 / 4 AS previously_bunched
FROM cta_platform_arrivals;

-- A train's reports in order: where it was before this one, and when it was due to be reported again.
CREATE TEMPORARY VIEW cta_train_moves AS
SELECT
  train_id, line, station_id, direction, arrived_ms, prev_departed_ms,
  LAG(line, 1) OVER train AS previous_line,
  LAG(station_id, 1) OVER train AS previous_station_id,
  LAG(station_name, 1) OVER train AS previous_station_name,
  LAG(direction, 1) OVER train AS previous_direction,
  LAG(arrived_ms, 1) OVER train AS previous_ms,
  LAG(due_ms, 1) OVER train AS previous_due_ms,
  LAG(run_s, 1) OVER train AS previous_run_s
FROM cta_arrivals_scheduled
WINDOW train AS (PARTITION BY train_id ORDER BY arrived_at);

-- The event-time clock (see the top): per platform with a schedule, its last in-service arrival as of
-- each slide's end.
CREATE TEMPORARY VIEW cta_gap_inputs AS
SELECT arrived_at, arrived_ms, line, station_id, station_name, direction, headway_s
FROM cta_service_arrivals WHERE headway_s IS NOT NULL;

CREATE TEMPORARY VIEW cta_platform_ticks AS
SELECT
  line, station_id, direction,
  MAX(station_name) AS station_name,
  MAX(headway_s) AS headway_s,
  MAX(arrived_ms) AS last_ms,
  UNIX_TIMESTAMP(DATE_FORMAT(
    HOP_END(arrived_at, INTERVAL '${service_tick_s}' SECOND, INTERVAL '40' MINUTE), 'yyyy-MM-dd HH:mm:ss'
  )) * 1000 AS tick_ms
FROM cta_gap_inputs
GROUP BY line, station_id, direction, HOP(arrived_at, INTERVAL '${service_tick_s}' SECOND, INTERVAL '40' MINUTE);

-- ... and per train, its last report (any status): when, where, and when it is due again, packed into
-- one text that sorts by time (MAX keeps the newest report's fields together; it merges across slides).
CREATE TEMPORARY VIEW cta_train_reports AS
SELECT
  arrived_at, train_id,
  LPAD(CAST(arrived_ms AS STRING), 15, '0') || '|' || CAST(due_ms AS STRING) || '|' || line || '|'
    || CAST(station_id AS STRING) || '|' || direction || '|' || train_status || '|' || CAST(run_s AS STRING)
    || '|' || station_name AS report
FROM cta_arrivals_scheduled WHERE due_ms IS NOT NULL;

CREATE TEMPORARY VIEW cta_train_ticks AS
SELECT
  train_id,
  CAST(SPLIT_INDEX(last_report, '|', 0) AS BIGINT) AS last_ms,
  CAST(SPLIT_INDEX(last_report, '|', 1) AS BIGINT) AS due_ms,
  SPLIT_INDEX(last_report, '|', 2) AS line,
  CAST(SPLIT_INDEX(last_report, '|', 3) AS INT) AS station_id,
  SPLIT_INDEX(last_report, '|', 4) AS direction,
  SPLIT_INDEX(last_report, '|', 5) AS train_status,
  CAST(SPLIT_INDEX(last_report, '|', 6) AS DOUBLE) AS run_s,
  -- The name is last: everything after the seventh separator, whatever it holds.
  SUBSTRING(last_report FROM CHAR_LENGTH(
    SPLIT_INDEX(last_report, '|', 0) || SPLIT_INDEX(last_report, '|', 1) || SPLIT_INDEX(last_report, '|', 2)
    || SPLIT_INDEX(last_report, '|', 3) || SPLIT_INDEX(last_report, '|', 4) || SPLIT_INDEX(last_report, '|', 5)
    || SPLIT_INDEX(last_report, '|', 6)) + 8) AS station_name,
  tick_ms
FROM (
  SELECT
    train_id,
    MAX(report) AS last_report,
    UNIX_TIMESTAMP(DATE_FORMAT(
      HOP_END(arrived_at, INTERVAL '${service_tick_s}' SECOND, INTERVAL '40' MINUTE), 'yyyy-MM-dd HH:mm:ss'
    )) * 1000 AS tick_ms
  FROM cta_train_reports
  GROUP BY train_id, HOP(arrived_at, INTERVAL '${service_tick_s}' SECOND, INTERVAL '40' MINUTE)
);

-- Every alert record: opens from the clock, clears (and bunching) from arrivals.
CREATE TEMPORARY VIEW cta_alert_records AS
-- A gap opens in the slide in which "last train + 2 x headway" falls, with no train since.
SELECT
  'gap:' || line || ':' || CAST(station_id AS STRING) || ':' || direction AS alert_id,
  'gap' AS kind, 'open' AS state, line, station_id, station_name, direction,
  CAST(NULL AS STRING) AS train_id,
  last_ms AS since_ms, tick_ms AS at_ms,
  CAST((tick_ms - last_ms) / 1000.0 AS DOUBLE) AS measured_s,
  headway_s AS scheduled_s, 2 * headway_s AS threshold_s,
  'no train for ' || CAST(CAST((tick_ms - last_ms) / 60000.0 AS DECIMAL(6, 1)) AS STRING) || ' min, scheduled every '
    || CAST(CAST(headway_s / 60 AS DECIMAL(6, 1)) AS STRING) || ' min (a gap is more than twice that)' AS reason
FROM cta_platform_ticks
WHERE last_ms + 2 * headway_s * 1000 <= tick_ms
  AND last_ms + 2 * headway_s * 1000 > tick_ms - ${service_tick_s} * 1000
UNION ALL
-- The gap ends with the next train there.
SELECT
  'gap:' || line || ':' || CAST(station_id AS STRING) || ':' || direction,
  'gap', 'clear', line, station_id, station_name, direction, CAST(NULL AS STRING),
  arrived_ms - headway_ms, arrived_ms,
  CAST(headway_ms / 1000.0 AS DOUBLE), headway_s, 2 * headway_s,
  'train ' || train_id || ' arrived after ' || CAST(CAST(headway_ms / 60000.0 AS DECIMAL(6, 1)) AS STRING)
    || ' min, scheduled every ' || CAST(CAST(headway_s / 60 AS DECIMAL(6, 1)) AS STRING) || ' min'
FROM cta_platform_verdicts
WHERE headway_ms > 2 * headway_s * 1000
UNION ALL
SELECT
  'bunching:' || line || ':' || CAST(station_id AS STRING) || ':' || direction,
  'bunching', CASE WHEN bunched THEN 'open' ELSE 'clear' END,
  line, station_id, station_name, direction, train_id,
  arrived_ms - headway_ms, arrived_ms,
  CASE WHEN unmeasured THEN CAST(NULL AS DOUBLE) ELSE CAST(headway_ms / 1000.0 AS DOUBLE) END,
  min_headway_s, min_headway_s / 4,
  CASE WHEN bunched
    THEN 'train ' || train_id || ' ' || CAST(CAST(headway_ms / 1000.0 AS DECIMAL(7, 0)) AS STRING) || ' s behind '
      || previous_train_id || ', scheduled every ' || CAST(CAST(min_headway_s / 60 AS DECIMAL(6, 1)) AS STRING)
      || ' min (bunched: under a quarter of that)'
    -- A first report after a bunched pair still clears it (the next arrival's headway is not measured either).
    WHEN unmeasured THEN 'train ' || train_id || ' first reported here (no headway measured): the bunched trains have left'
    ELSE 'train ' || train_id || ' ' || CAST(CAST(headway_ms / 1000.0 AS DECIMAL(7, 0)) AS STRING)
      || ' s behind the previous one: spaced again'
  END
FROM cta_platform_verdicts
WHERE bunched <> previously_bunched
UNION ALL
-- A train is held from the slide in which it became due (scheduled run + margin) without a report.
SELECT
  'held:' || train_id || ':' || line || ':' || CAST(station_id AS STRING) || ':' || direction,
  'held', 'open', line, station_id, station_name, direction, train_id,
  last_ms, tick_ms,
  CAST((tick_ms - last_ms) / 1000.0 AS DOUBLE), run_s, run_s + ${service_held_margin_s},
  'train ' || train_id || ' not seen for ' || CAST(CAST((tick_ms - last_ms) / 60000.0 AS DECIMAL(6, 1)) AS STRING)
    || ' min, next report due ' || CAST(CAST(run_s / 60 AS DECIMAL(6, 1)) AS STRING) || ' min after arriving'
FROM cta_train_ticks
WHERE train_status <> 'out_of_service'
  AND due_ms <= tick_ms AND due_ms > tick_ms - ${service_tick_s} * 1000
UNION ALL
-- ... and clear when it is reported again, anywhere.
SELECT
  'held:' || train_id || ':' || previous_line || ':' || CAST(previous_station_id AS STRING) || ':' || previous_direction,
  'held', 'clear', previous_line, previous_station_id, previous_station_name, previous_direction, train_id,
  previous_ms, arrived_ms,
  CAST((arrived_ms - previous_ms) / 1000.0 AS DOUBLE), previous_run_s, previous_run_s + ${service_held_margin_s},
  'train ' || train_id || ' moved on after ' || CAST(CAST((arrived_ms - previous_ms) / 60000.0 AS DECIMAL(6, 1)) AS STRING)
    || ' min'
FROM cta_train_moves
WHERE previous_due_ms IS NOT NULL AND arrived_ms > previous_due_ms;

EXECUTE STATEMENT SET
BEGIN
  INSERT INTO cta_headways
  SELECT
    line, station_id, station_name, direction, train_id, previous_train_id, arrived_ms,
    CASE WHEN unmeasured THEN CAST(NULL AS DOUBLE) ELSE CAST(headway_ms / 1000.0 AS DOUBLE) END,
    headway_s, min_headway_s
  FROM cta_platform_arrivals;

  -- Dwell at the station the train left (a terminal's turn, reported twice at one station, is layover).
  INSERT INTO cta_dwells
  SELECT
    previous_line, previous_station_id, previous_station_name, previous_direction, train_id,
    previous_ms, prev_departed_ms, CAST((prev_departed_ms - previous_ms) / 1000.0 AS DOUBLE)
  FROM cta_train_moves
  WHERE prev_departed_ms IS NOT NULL AND previous_ms IS NOT NULL AND previous_station_id <> station_id
    AND prev_departed_ms >= previous_ms;

  INSERT INTO cta_service_alerts SELECT * FROM cta_alert_records;

  INSERT INTO cta_health_dead_letters
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
        'dlq.consumer', ENCODE('flink.cta-service-health', 'UTF-8')
      ]
    )
  FROM cta_arrivals_checked
  WHERE error IS NOT NULL;
END;
