-- London's barriers (docs/ARCHITECTURE.md, "London"), one job on one read of the entries and exits
-- topics: each tap joined with the station version valid at its time into station_entries and
-- station_exits; live counts per station and per line; 1- and 15-minute windows per station; records
-- that are not valid barrier taps to the dead-letter topic. Runs after tables.sql.
-- The original design's KSQL:  CREATE STREAM station_entries AS SELECT ... FROM entries
--   LEFT JOIN stations ON entries.ROWKEY = stations.ROWKEY.

-- "@timestamp" and the window times in UTC, whatever the gateway's zone.
SET 'table.local-time-zone' = 'UTC';
-- A partition with no taps for a while (a quiet topic, the stations topic between changes) must not
-- hold back event time: the temporal join and the windows follow the partitions that have taps.
SET 'table.exec.source.idle-timeout' = '2 s';
-- No mini-batches (unlike the turnstile summary): on event-time sources the mini-batch assigner holds
-- watermarks back to its own interval, and the temporal join and windows wait on them.
SET 'table.exec.mini-batch.enabled' = 'false';
-- Each INSERT below expands the views anew: with this the planner finds the identical expansions by
-- digest and plans them once, so each record is decoded and checked once for all the sinks and the
-- stations table has one ChangelogNormalize (london_taps says why the join needs more).
SET 'table.optimizer.reuse-optimize-block-with-digest-enabled' = 'true';

-- (A doubled dollar sign is a literal one here: a single one starts a placeholder.)
-- Each record checked against the contract: key = station name (UTF-8 text), value = a JSON object
-- {"user": text, "delta": 1} on the entries topic, -1 on the exits topic.
CREATE TEMPORARY VIEW london_barriers_checked AS
SELECT
  record_key,
  record_value,
  topic,
  `partition`,
  `offset`,
  headers,
  tapped_at,
  station,
  `user`,
  delta,
  CASE
    WHEN station IS NULL OR TRIM(station) = '' THEN 'no station name in the key'
    WHEN record_value IS NULL THEN 'no value'
    WHEN NOT (body IS JSON OBJECT) THEN 'value is not a JSON object'
    WHEN `user` IS NULL OR `user` = '' THEN 'user is missing or empty'
    WHEN delta IS NULL THEN 'delta is missing or not an integer'
    WHEN topic = '${topic_london_entries}' AND delta <> 1 THEN 'delta of an entry must be 1'
    WHEN topic = '${topic_london_exits}' AND delta <> -1 THEN 'delta of an exit must be -1'
  END AS error
FROM (
  SELECT
    *,
    CASE WHEN body IS JSON OBJECT THEN JSON_VALUE(body, '$$.user' NULL ON ERROR) END AS `user`,
    CASE WHEN body IS JSON OBJECT THEN JSON_VALUE(body, '$$.delta' RETURNING INT NULL ON ERROR) END AS delta
  FROM (
    SELECT *, DECODE(record_key, 'UTF-8') AS station, DECODE(record_value, 'UTF-8') AS body
    FROM london_barriers_raw
  )
);

-- Event-time temporal join: the station row whose version (modified_date) was valid when the barrier
-- was tapped. LEFT: a station the table does not know is kept, with known = false and no location.
-- One join for all the sinks: its columns go out packed in one ROW that every reader unpacks. The
-- planner prunes each INSERT's join to the columns that INSERT reads, and joins with different columns
-- are not shared (each tap was joined four times); FOR SYSTEM_TIME AS OF gives every expansion of the
-- view its own correlation id, so the digest option above does not merge the joins either.
CREATE TEMPORARY VIEW london_taps_joined AS
SELECT
  tap.tapped_at,
  CAST(ROW(tap.`user`, tap.delta, tap.station, station.location, station.name IS NOT NULL, station.`lines`)
    AS ROW<`user` STRING, delta INT, station STRING, location STRING, known BOOLEAN NOT NULL, `lines` STRING>)
    AS joined
FROM (SELECT * FROM london_barriers_checked WHERE error IS NULL) AS tap
LEFT JOIN london_stations FOR SYSTEM_TIME AS OF tap.tapped_at AS station
  ON tap.station = station.name;

CREATE TEMPORARY VIEW london_taps AS
SELECT
  tapped_at,
  -- In UTC (the session's zone), so the literal Z is the pattern's X: Flink cannot format X itself.
  DATE_FORMAT(tapped_at, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z''') AS `@timestamp`,
  joined.`user`,
  joined.delta,
  joined.station,
  joined.location,
  joined.known,
  joined.`lines`
FROM london_taps_joined;

-- Group windows, not window TVFs: the TVF window aggregate buffers in managed memory, which this
-- TaskManager does not have (the hashmap state backend keeps state on the heap); these keep theirs in
-- keyed state. Each window is written once, when event time passes its end.
CREATE TEMPORARY VIEW london_windows AS
SELECT station, 1 AS window_minutes,
  TUMBLE_START(tapped_at, INTERVAL '1' MINUTE) AS window_start,
  TUMBLE_END(tapped_at, INTERVAL '1' MINUTE) AS window_end,
  COUNT(*) FILTER (WHERE delta > 0) AS entries, COUNT(*) FILTER (WHERE delta < 0) AS exits
FROM london_taps
GROUP BY station, TUMBLE(tapped_at, INTERVAL '1' MINUTE)
UNION ALL
SELECT station, 15 AS window_minutes,
  TUMBLE_START(tapped_at, INTERVAL '15' MINUTE) AS window_start,
  TUMBLE_END(tapped_at, INTERVAL '15' MINUTE) AS window_end,
  COUNT(*) FILTER (WHERE delta > 0) AS entries, COUNT(*) FILTER (WHERE delta < 0) AS exits
FROM london_taps
GROUP BY station, TUMBLE(tapped_at, INTERVAL '15' MINUTE);

EXECUTE STATEMENT SET
BEGIN
  INSERT INTO london_station_entries
  SELECT `@timestamp`, `user`, delta, station, location, known FROM london_taps WHERE delta > 0;

  INSERT INTO london_station_exits
  SELECT `@timestamp`, `user`, delta, station, location, known FROM london_taps WHERE delta < 0;

  INSERT INTO london_station_activity
  SELECT station, known, entries, exits, entries - exits
  FROM (
    SELECT station, LAST_VALUE(known) AS known,
      COUNT(*) FILTER (WHERE delta > 0) AS entries, COUNT(*) FILTER (WHERE delta < 0) AS exits
    FROM london_taps
    GROUP BY station
  );

  -- A station's lines are the stations table's `lines` ("District;Piccadilly"); unknown stations have none.
  INSERT INTO london_line_activity
  SELECT line, entries, exits, entries - exits
  FROM (
    SELECT TRIM(line) AS line,
      COUNT(*) FILTER (WHERE delta > 0) AS entries, COUNT(*) FILTER (WHERE delta < 0) AS exits
    FROM london_taps CROSS JOIN UNNEST(SPLIT(`lines`, ';')) AS served(line)
    WHERE `lines` IS NOT NULL AND TRIM(line) <> ''
    GROUP BY TRIM(line)
  );

  INSERT INTO london_station_windows
  SELECT station, window_minutes,
    DATE_FORMAT(window_start, 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
    DATE_FORMAT(window_end, 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
    entries, exits
  FROM london_windows;

  -- Same dlq.* headers as turnstile_summary.sql (dead_letters.py's contract): SQL shares them only via a Java UDF.
  INSERT INTO london_dead_letters
  SELECT
    record_key,
    record_value,
    MAP_UNION(
      COALESCE(headers, MAP['dlq.topic', ENCODE(topic, 'UTF-8')]),
      MAP[
        'dlq.topic', ENCODE(topic, 'UTF-8'),
        'dlq.partition', ENCODE(CAST(`partition` AS STRING), 'UTF-8'),
        'dlq.offset', ENCODE(CAST(`offset` AS STRING), 'UTF-8'),
        'dlq.error', ENCODE(error, 'UTF-8'),
        'dlq.consumer', ENCODE('flink.london-barriers', 'UTF-8')
      ]
    )
  FROM london_barriers_checked
  WHERE error IS NOT NULL;
END;
