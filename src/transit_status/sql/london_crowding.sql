-- London's equivalent of Chicago's service alerts (docs/ARCHITECTURE.md, "Service health"): London's
-- data has no trains, only barrier counts, so its alert is crowding: a station whose entries in a
-- quarter hour are far above what a typical day of the same day type has in that quarter. Runs after
-- tables.sql, over London's own 15-minute windows; the typical day and the calendar come from the
-- network (reference topics the pipeline writes), not from the SQL.

SET 'table.exec.source.idle-timeout' = '2 s';
SET 'table.local-time-zone' = 'UTC';

-- Closed quarters with their local date and hour (the network's zone) and day type.
CREATE TEMPORARY VIEW london_quarters AS
SELECT
  quarter.station, quarter.entries, quarter.window_start, quarter.window_end, quarter.ends_at,
  quarter.local_start, calendar.day_type
FROM (
  SELECT *, CONVERT_TZ(REPLACE(REPLACE(window_start, 'T', ' '), 'Z', ''), 'UTC', '${london_timezone}') AS local_start
  FROM london_windows_in
  WHERE window_minutes = 15 AND station IS NOT NULL AND entries IS NOT NULL
) AS quarter
JOIN london_calendar FOR SYSTEM_TIME AS OF quarter.ends_at AS calendar
  ON SUBSTRING(quarter.local_start FROM 1 FOR 10) = calendar.`day`;

-- A quarter's typical entries: a quarter of its local hour's on a typical day of its day type.
CREATE TEMPORARY VIEW london_quarter_verdicts AS
SELECT
  *,
  entries >= ${london_crowding_ratio} * typical_entries AND entries >= ${london_crowding_min_entries} AS crowded
FROM (
  SELECT quarter.*, typical.entries / 4 AS typical_entries
  FROM london_quarters AS quarter
  JOIN london_typical_entries FOR SYSTEM_TIME AS OF quarter.ends_at AS typical
    ON quarter.station = typical.station AND quarter.day_type = typical.day_type
    AND CAST(SUBSTRING(quarter.local_start FROM 12 FOR 2) AS INT) = typical.`hour`
);

-- Each station's quarters in order: an alert opens on the first crowded one and clears on the first
-- that is not.
CREATE TEMPORARY VIEW london_crowding_flips AS
SELECT
  *,
  COALESCE(LAG(crowded, 1) OVER station_quarters, FALSE) AS was_crowded
FROM london_quarter_verdicts
WINDOW station_quarters AS (PARTITION BY station ORDER BY ends_at);

INSERT INTO london_crowding_alerts
SELECT
  'crowding:' || station,
  CASE WHEN crowded THEN 'open' ELSE 'clear' END,
  station,
  window_start,
  window_end,
  entries,
  typical_entries,
  CASE WHEN typical_entries > 0 THEN ROUND(entries / typical_entries, 2) END,
  day_type,
  CASE WHEN crowded
    THEN CAST(entries AS STRING) || ' entries in the quarter from ' || SUBSTRING(local_start FROM 12 FOR 5)
      || ', a typical ' || day_type || ' has ' || CAST(CAST(typical_entries AS DECIMAL(10, 1)) AS STRING)
      || ' (alert at ' || '${london_crowding_ratio}' || 'x)'
    ELSE CAST(entries AS STRING) || ' entries in the quarter from ' || SUBSTRING(local_start FROM 12 FOR 5)
      || ': back under ' || '${london_crowding_ratio}' || 'x the typical '
      || CAST(CAST(typical_entries AS DECIMAL(10, 1)) AS STRING)
  END
FROM london_crowding_flips
WHERE crowded <> was_crowded;
