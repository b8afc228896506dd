-- London's barriers (docs/ARCHITECTURE.md, "London"), one job on one read of the entries and exits
-- topics and of the stations (keyed by nlc): the name-keyed stations topic, whose old names a rename
-- or a delete removes; each tap joined with the station version valid at its time into station_entries and
-- station_exits; live counts per station and per line; 1- and 15-minute windows per station; records
-- that are not valid barrier taps to the dead-letter topic. Runs after tables.sql.
-- The original design's KSQL:  CREATE STREAM station_entries AS SELECT ... FROM entries
--   LEFT JOIN stations ON entries.ROWKEY = stations.ROWKEY.

-- "@timestamp" and the window times in UTC, whatever the gateway's zone.
SET 'table.local-time-zone' = 'UTC';
-- A partition with no taps for a while (a quiet topic, the stations topic between changes) must not
-- hold back event time: the temporal join and the windows follow the partitions that have taps.
-- The price: after 2 s with no taps, a station change moves event time on by itself, and the join
-- keeps only the versions valid from then; a tap from before the change that the source reads only
-- after it is late, and finds its station's old name gone (known = false).
SET 'table.exec.source.idle-timeout' = '2 s';
-- No mini-batches (unlike the turnstile summary): on event-time sources the mini-batch assigner holds
-- watermarks back to its own interval, and the temporal join and windows wait on them.
SET 'table.exec.mini-batch.enabled' = 'false';
-- Each INSERT below expands the views anew: with this the planner finds the identical expansions by
-- digest and plans them once, so each record is decoded and checked once for all the sinks and the
-- stations are read and deduplicated once (london_taps_joined says why the joins need more).
SET 'table.optimizer.reuse-optimize-block-with-digest-enabled' = 'true';

-- (A doubled dollar sign is a literal one here: a single one starts a placeholder.)
-- Each record checked against the contract, in either of the barriers' formats
-- (TRANSIT_LONDON_BARRIER_FORMAT): key = the station's name, value = {"user": text, "delta": 1} on the
-- entries topic, -1 on the exits topic, written
-- * as JSON, the original design's: the key UTF-8 text, the value a JSON object; or
-- * as Avro in Confluent's wire format (magic byte 0, 4-byte schema id), decoded against the Schema
--   Registry: the key a barrier_key {station}, the value a barrier_value {user, delta}.
-- Each record's own first bytes say which: a key or value starting with byte 0 is Avro (no JSON text
-- and no station name starts with NUL). So one job, with one plan, reads both: a topic holding both
-- formats (a change of format with taps still in it, a replay) is read right, and changing the format
-- needs no new job. A JSON record's decoder call gets NULLs and returns at once.
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
    WHEN avro_error IS NOT NULL THEN avro_error
    WHEN station IS NULL OR TRIM(station) = '' THEN 'no station name in the key'
    WHEN record_value IS NULL THEN 'no value'
    WHEN NOT is_avro AND NOT (body IS JSON OBJECT) THEN 'value is not a JSON object'
    WHEN `user` IS NULL OR `user` = '' THEN 'user is missing or empty'
    WHEN delta IS NULL THEN 'delta is missing or not an integer'
    WHEN topic = '${topic_london_entries}' AND delta <> 1 THEN 'delta of an entry must be 1'
    WHEN topic = '${topic_london_exits}' AND delta <> -1 THEN 'delta of an exit must be -1'
  END AS error
FROM (
  SELECT
    tap.*,
    CASE WHEN tap.is_avro THEN decoded.error END AS avro_error,
    CASE WHEN tap.is_avro THEN decoded.key_fields.station ELSE tap.key_text END AS station,
    CASE
      WHEN tap.is_avro THEN decoded.value_fields.`user`
      WHEN tap.body IS JSON OBJECT THEN JSON_VALUE(tap.body, '$$.user' NULL ON ERROR)
    END AS `user`,
    CASE
      WHEN tap.is_avro THEN decoded.value_fields.delta
      WHEN tap.body IS JSON OBJECT THEN JSON_VALUE(tap.body, '$$.delta' RETURNING INT NULL ON ERROR)
    END AS delta
  FROM (
    -- Flink SQL has no SUBSTRING of bytes; as text (which the JSON path needs anyway) a leading byte 0
    -- is the character CHR(0), whatever follows it.
    SELECT *,
      COALESCE(SUBSTRING(key_text FROM 1 FOR 1) = CHR(0) OR SUBSTRING(body FROM 1 FOR 1) = CHR(0), FALSE) AS is_avro
    FROM (
      SELECT *, DECODE(record_key, 'UTF-8') AS key_text, DECODE(record_value, 'UTF-8') AS body
      FROM london_barriers_raw
    )
  ) AS tap,
  LATERAL TABLE(CONFLUENT_AVRO_DECODE(
    CASE WHEN tap.is_avro THEN tap.record_key END, CASE WHEN tap.is_avro THEN tap.record_value END,
    '${schema_registry_url}',
    'station STRING',                -- barrier_key
    '`user` STRING, delta INT'       -- barrier_value
  )) AS decoded(key_fields, value_fields, error)
);

-- Every version of every station (london_station_rows): the station's nlc from the key; a tombstone (a
-- deleted station) is a version with no name. A value is Confluent Avro (magic byte 0) or JSON, read
-- alike. The key is JSON in both, so the value stands in for CONFLUENT_AVRO_DECODE's key as well. An Avro
-- value that cannot be decoded is left out, not read as a deletion.
CREATE TEMPORARY VIEW london_station_log AS
SELECT
  r.nlc,
  CASE WHEN r.avro THEN d.value_fields.name ELSE JSON_VALUE(r.body, '$$.name' NULL ON ERROR) END AS name,
  CASE WHEN r.avro THEN d.value_fields.location ELSE JSON_VALUE(r.body, '$$.location' NULL ON ERROR) END
    AS location,
  CASE WHEN r.avro THEN d.value_fields.modified_date
    ELSE JSON_VALUE(r.body, '$$.modified_date' NULL ON ERROR) END AS modified_date,
  CASE WHEN r.avro THEN d.value_fields.zone ELSE JSON_VALUE(r.body, '$$.zone' NULL ON ERROR) END AS zone,
  CASE WHEN r.avro THEN d.value_fields.`lines` ELSE JSON_VALUE(r.body, '$$.lines' NULL ON ERROR) END AS `lines`,
  CASE WHEN r.avro THEN d.value_fields.latitude
    ELSE JSON_VALUE(r.body, '$$.latitude' RETURNING DOUBLE NULL ON ERROR) END AS latitude,
  CASE WHEN r.avro THEN d.value_fields.longitude
    ELSE JSON_VALUE(r.body, '$$.longitude' RETURNING DOUBLE NULL ON ERROR) END AS longitude,
  r.valid_from,
  r.read_at
FROM (
  SELECT *, COALESCE(SUBSTRING(body FROM 1 FOR 1) = CHR(0), FALSE) AS avro
  FROM (
    SELECT *,
      JSON_VALUE(DECODE(record_key, 'UTF-8'), '$$.nlc' RETURNING INT NULL ON ERROR) AS nlc,
      DECODE(record_value, 'UTF-8') AS body
    FROM london_station_rows
  )
) AS r,
  LATERAL TABLE(CONFLUENT_AVRO_DECODE(
    r.record_value, r.record_value, '${schema_registry_url}',
    'nlc INT',
    'name STRING, location STRING, modified_date STRING, zone STRING, `lines` STRING, latitude DOUBLE, longitude DOUBLE'
  )) AS d(key_fields, value_fields, error)
WHERE r.nlc IS NOT NULL AND NOT (r.avro AND d.error IS NOT NULL);

-- What a rename means: the station (its nlc) answers to its new name only, from the version that
-- renamed it. Two versioned views (a deduplication on event time is one: Flink reads it as a table
-- with a primary key and versions):
-- each station's versions, by nlc (a tombstone's version has no name: the station is gone) ...
CREATE TEMPORARY VIEW london_station_by_nlc AS
SELECT nlc, name, location, modified_date, zone, `lines`, latitude, longitude, valid_from
FROM (
  SELECT nlc, name, location, modified_date, zone, `lines`, latitude, longitude, valid_from,
    ROW_NUMBER() OVER (PARTITION BY nlc ORDER BY valid_from DESC) AS newest
  FROM london_station_log
)
WHERE newest = 1;

-- ... and which station each name last meant: a name stays here after its station is renamed, so
-- a tap under it finds the station and sees that by the tap's time it had another name.
CREATE TEMPORARY VIEW london_station_names AS
SELECT name, nlc, valid_from
FROM (
  SELECT name, nlc, valid_from, ROW_NUMBER() OVER (PARTITION BY name ORDER BY valid_from DESC) AS newest
  FROM london_station_log
  WHERE name IS NOT NULL
)
WHERE newest = 1;

-- Event-time temporal joins: the name's station, then that station's version valid when the barrier
-- was tapped. The tap is known only if the station had the tap's name then: a tap under a name its
-- station has since dropped is unknown (known = false, no location), like one under a name no station
-- ever had. (The name is compared after the second join, not in it: as a join key it would split the
-- station's versions by name, and the old name's version would still be found.)
-- Its columns go out packed in one ROW that every reader unpacks, meant to give all the sinks one join:
-- the planner prunes each INSERT's join to the columns that INSERT reads, and joins with different
-- columns are not shared. Flink 2.3 still plans one pair of joins per INSERT (six pairs in the job
-- graph): FOR SYSTEM_TIME AS OF gives every expansion of the view its own correlation id, so the
-- digest option above does not merge them. Sharing them is open (docs/BENCHMARKS.md, London's rate).
CREATE TEMPORARY VIEW london_taps_joined AS
SELECT
  tapped_at,
  CAST(ROW(`user`, delta, station, CASE WHEN known THEN location END, known, CASE WHEN known THEN `lines` END)
    AS ROW<`user` STRING, delta INT, station STRING, location STRING, known BOOLEAN NOT NULL, `lines` STRING>)
    AS joined
FROM (
  SELECT tap.tapped_at, tap.`user`, tap.delta, tap.station, station.location, station.`lines`,
    COALESCE(station.name = tap.station, FALSE) AS known
  FROM (SELECT * FROM london_barriers_checked WHERE error IS NULL) AS tap
  LEFT JOIN london_station_names FOR SYSTEM_TIME AS OF tap.tapped_at AS named
    ON tap.station = named.name
  LEFT JOIN london_station_by_nlc FOR SYSTEM_TIME AS OF tap.tapped_at AS station
    ON named.nlc = station.nlc
);

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
  -- The original design's name-keyed stations topic, from each station's latest version read. Keyed
  -- by nlc in, by name out: DEDUPLICATE keeps, per name, the stations that have it (the latest wins),
  -- so when a station's name changes (or it is deleted) and no other station has the old name, the old
  -- name gets a tombstone. Its own deduplication (in read order), not london_station_by_nlc: the sink
  -- needs each replaced version retracted, and a retraction reaching the temporal join would erase
  -- that version from the join's history (shared, the old name's taps before a rename were unknown).
  INSERT INTO london_stations
  SELECT name, location, modified_date, nlc, zone, `lines`, latitude, longitude
  FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY nlc ORDER BY read_at DESC) AS newest
    FROM london_station_log
  )
  WHERE newest = 1 AND name IS NOT NULL
  ON CONFLICT DO DEDUPLICATE;

  INSERT INTO london_station_entries
  SELECT `@timestamp`, `user`, delta, station, location, known FROM london_taps WHERE delta > 0;

  INSERT INTO london_station_exits
  SELECT `@timestamp`, `user`, delta, station, location, known FROM london_taps WHERE delta < 0;

  -- known: as of the station's latest tap in event time. LAST_VALUE would take the last one read, and
  -- the joins emit a name's taps in no time order across their keys (a tap under a name no station had
  -- yet is joined under no station at all). So the latest is the greatest "@timestamp" (ISO, fixed
  -- width: text order is time order) with its known flag appended; at a tie, known wins.
  INSERT INTO london_station_activity
  SELECT station, RIGHT(latest_tap, 1) = '1', entries, exits, entries - exits
  FROM (
    SELECT station, MAX(CONCAT(`@timestamp`, IF(known, '1', '0'))) AS latest_tap,
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
