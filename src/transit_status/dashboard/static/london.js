// London Underground page: draws the map once (/api/london/map), then keeps station circles, line
// totals, the charts (OpenSearch histograms pushed by the server), the busiest stations, crowding and
// unknown stations in step with the server's WebSocket (/ws/london): a snapshot, then updates.
// Every piece of data goes into the DOM as text (textContent / attributes), never as markup.
"use strict";

(() => {
  const { element, svgElement, clear, withAge, setConnection } = window.live;
  const FEED_NAMES = {
    kafka: "Kafka",
    station_activity: "Station activity",
    line_activity: "Line activity",
    station_windows: "Windows",
    opensearch: "OpenSearch",
    crowding_alerts: "Crowding alerts",
  };
  const ENTRY_COLOUR = [31, 111, 209];
  const EXIT_COLOUR = [217, 89, 28];
  const SERIES_COLOURS = { entries: "#1f6fd1", exits: "#d9591c" };

  const model = { seq: 0, stations: new Map(), lines: new Map(), busiest: null, series: null };
  const mapStations = new Map(); // name -> station of the map (x, y, zone, typical counts)
  const circles = new Map(); // name -> <circle>
  const lineInfo = new Map(); // line id -> {line, name, colour}
  const lineIds = new Map(); // line id or name (as Flink may write either) -> line id
  const charts = { hour: null, today: null };
  let redrawQueued = false;
  let typicalDay = "day";

  const $ = (id) => document.getElementById(id);
  const number = (value) => (value === null || value === undefined ? "–" : Number(value).toLocaleString("en-GB"));

  function row(cells) {
    const tr = element("tr");
    for (const [text, className] of cells) tr.appendChild(element("td", className || null, text));
    return tr;
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: "Europe/London" });
  }

  // ---- map -------------------------------------------------------------------------------------
  async function loadMap() {
    drawMap(await window.live.loadMap("/api/london/map"));
  }

  function drawMap(map) {
    const svg = $("map");
    typicalDay = map.day_type.replace(/_/g, "–");
    for (const line of map.lines) {
      lineInfo.set(line.line, line);
      lineIds.set(line.line, line.line);
      lineIds.set(line.name, line.line);
    }
    const links = svgElement("g", { class: "links" });
    for (const segment of map.segments) {
      const link = svgElement("line", {
        class: `link line-${segment.line}`,
        x1: segment.from[0],
        y1: segment.from[1],
        x2: segment.to[0],
        y2: segment.to[1],
      });
      link.style.stroke = lineInfo.get(segment.line).colour;
      links.appendChild(link);
    }
    const stations = svgElement("g", { class: "stations" });
    for (const station of map.stations) {
      mapStations.set(station.name, station);
      const circle = svgElement("circle", { class: "london-station idle", cx: station.x, cy: station.y, r: 1.6 });
      circle.setAttribute("data-station", station.name);
      circle.appendChild(svgElement("title"));
      stations.appendChild(circle);
      circles.set(station.name, circle);
    }
    svg.append(links, stations);
    queueRedraw();
  }

  function mix(entries, exits) {
    // 0 = all entries (blue), 1 = all exits (orange), grey-violet in between.
    const share = entries + exits > 0 ? exits / (entries + exits) : 0.5;
    const channel = (i) => Math.round(ENTRY_COLOUR[i] + (EXIT_COLOUR[i] - ENTRY_COLOUR[i]) * share);
    return `rgb(${channel(0)}, ${channel(1)}, ${channel(2)})`;
  }

  function drawStations() {
    let busiest = 1;
    for (const activity of model.stations.values()) busiest = Math.max(busiest, activity.entries + activity.exits);
    for (const [name, circle] of circles) {
      const activity = model.stations.get(name);
      const station = mapStations.get(name);
      const total = activity ? activity.entries + activity.exits : 0;
      const title = circle.querySelector("title");
      if (!total) {
        circle.setAttribute("class", "london-station idle");
        circle.setAttribute("r", "1.6");
        circle.style.fill = "";
        title.textContent = `${name} (zone ${station.zone}) · no barrier events yet`;
        continue;
      }
      circle.setAttribute("class", "london-station");
      circle.setAttribute("r", (1.8 + 8 * Math.sqrt(total / busiest)).toFixed(2));
      circle.style.fill = mix(activity.entries, activity.exits);
      circle.setAttribute("data-entries", String(activity.entries));
      circle.setAttribute("data-exits", String(activity.exits));
      title.textContent =
        `${name} (zone ${station.zone}) · ${number(activity.entries)} entries · ${number(activity.exits)} exits · ` +
        `typical ${typicalDay}: ${number(station.typical_entries)} entries`;
    }
  }

  function drawTotals() {
    let entries = 0;
    let exits = 0;
    for (const activity of model.stations.values()) {
      entries += activity.entries;
      exits += activity.exits;
    }
    $("total-entries").textContent = number(entries);
    $("total-exits").textContent = number(exits);
    $("total-inside").textContent = number(entries - exits);
  }

  function drawLines() {
    const body = $("lines-table").tBodies[0];
    clear(body);
    const byId = new Map();
    for (const activity of model.lines.values()) byId.set(lineIds.get(activity.line) || activity.line, activity);
    const ids = [...lineInfo.keys(), ...[...byId.keys()].filter((id) => !lineInfo.has(id)).sort()];
    for (const id of ids) {
      const activity = byId.get(id);
      const info = lineInfo.get(id) || { name: id, colour: "#888888" };
      const tr = row([
        [null],
        [activity ? number(activity.entries) : "–", "num"],
        [activity ? number(activity.exits) : "–", "num"],
        [activity ? number(activity.inside) : "–", "num"],
      ]);
      tr.setAttribute("data-line", id);
      const swatch = element("span", "swatch");
      swatch.style.background = info.colour;
      tr.cells[0].append(swatch, document.createTextNode(` ${info.name}`));
      body.appendChild(tr);
    }
  }

  function drawUnknown() {
    const list = $("unknown");
    clear(list);
    const unknown = [...model.stations.values()].filter((a) => !a.known).sort((a, b) => (a.station < b.station ? -1 : 1));
    for (const activity of unknown) {
      const item = element("li", null, activity.station);
      item.setAttribute("data-station", activity.station);
      item.appendChild(
        element("span", "counts", `${number(activity.entries)} entries · ${number(activity.exits)} exits`),
      );
      list.appendChild(item);
    }
    $("unknown-empty").hidden = unknown.length > 0;
  }

  function drawBusiest() {
    const body = $("busiest").tBodies[0];
    clear(body);
    const busiest = model.busiest;
    $("busiest-empty").hidden = Boolean(busiest && busiest.stations.length);
    $("busiest-window").textContent = busiest
      ? `${clock(busiest.window_start)}–${clock(busiest.window_end)} (${busiest.window_minutes} min)`
      : "";
    for (const station of busiest ? busiest.stations : []) {
      body.appendChild(
        row([[station.station], [number(station.entries), "num"], [number(station.exits), "num"], [number(station.total), "num"]]),
      );
    }
  }

  function drawCrowding(crowding) {
    const body = $("crowding").tBodies[0];
    clear(body);
    if (!crowding) return;
    $("crowding-day").textContent = `typical ${crowding.day_type.replace(/_/g, "–")}, since ${clock(crowding.since)}`;
    const net = crowding.network;
    $("crowding-network").textContent =
      `Whole network: ${number(net.entries)} entries against ${number(net.expected)} on a typical day by now` +
      (net.ratio === null ? "." : ` (${net.ratio.toFixed(2)}×).`);
    for (const station of crowding.stations) {
      const ratioClass = station.ratio >= 1.2 ? "num ratio-high" : station.ratio < 0.8 ? "num ratio-low" : "num";
      body.appendChild(
        row([
          [station.station],
          [station.zone],
          [number(station.entries), "num"],
          [number(station.expected), "num"],
          [`${station.ratio.toFixed(2)}×`, ratioClass],
        ]),
      );
    }
  }

  // ---- charts (uPlot, vendored) ---------------------------------------------------------------
  function chartData(entries, exits) {
    // Both histograms share their buckets (same bounds); a stream still waiting counts as zeros.
    const times = [...new Set([...entries, ...exits].map((point) => point[0]))].sort((a, b) => a - b);
    const value = (points) => {
      const byTime = new Map(points);
      return times.map((t) => byTime.get(t) || 0);
    };
    return [times.map((t) => t / 1000), value(entries), value(exits)];
  }

  function drawChart(name, target, data) {
    if (typeof uPlot === "undefined") return;
    const width = Math.max(target.clientWidth, 280);
    if (!charts[name]) {
      charts[name] = new uPlot(
        {
          width,
          height: 170,
          tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Europe/London"),
          legend: { live: false },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true } },
          axes: [{}, { size: 56 }],
          series: [
            {},
            { label: "Entries", stroke: SERIES_COLOURS.entries, width: 2 },
            { label: "Exits", stroke: SERIES_COLOURS.exits, width: 2 },
          ],
        },
        data,
        target,
      );
    } else {
      charts[name].setData(data);
      if (charts[name].width !== width) charts[name].setSize({ width, height: 170 });
    }
  }

  function drawSeries() {
    const series = model.series;
    if (!series) return;
    drawChart("hour", $("chart-hour"), chartData(series.entries.last_hour, series.exits.last_hour));
    drawChart("today", $("chart-today"), chartData(series.entries.today, series.exits.today));
    const waiting = [series.entries, series.exits].some((s) => s.waiting);
    $("series-age").textContent = `from OpenSearch at ${clock(series.generated_at)}${waiting ? " · waiting for data" : ""}`;
    drawCrowding(series.crowding);
    window.london.seriesDrawn += 1;
  }

  // ---- applying server messages ------------------------------------------------------------------
  function queueRedraw() {
    // Activity updates come in bursts: redraw the circles, totals and lists once per frame.
    if (redrawQueued) return;
    redrawQueued = true;
    requestAnimationFrame(() => {
      redrawQueued = false;
      drawStations();
      drawTotals();
      drawUnknown();
      drawLines();
    });
  }

  function applySnapshot(message) {
    model.seq = message.seq;
    model.stations = new Map(message.stations.map((a) => [a.station, a]));
    model.lines = new Map(message.lines.map((a) => [a.line, a]));
    model.busiest = message.busiest;
    model.series = message.series;
    queueRedraw();
    drawBusiest();
    drawSeries();
    window.london.snapshots += 1;
  }

  function applyUpdate(update) {
    if (update.seq <= model.seq) return; // already in the snapshot
    model.seq = update.seq;
    switch (update.type) {
      case "activity":
        if (update.activity === null) model.stations.delete(update.station);
        else model.stations.set(update.station, update.activity);
        queueRedraw();
        break;
      case "line":
        if (update.activity === null) model.lines.delete(update.line);
        else model.lines.set(update.line, update.activity);
        queueRedraw();
        break;
      case "busiest":
        model.busiest = update.busiest;
        drawBusiest();
        break;
      case "series":
        model.series = update.series;
        drawSeries();
        break;
      default:
        break;
    }
  }

  // The server judges each feed (starting, ok, stale, failed, off: health.py); the page only words it.
  function feedState(feed, london) {
    const health = london.feeds[feed];
    const topic = london.topics[feed];
    if (health.state === "failed") return ["degraded", `failed since ${clock(health.since)}: ${health.reason}`];
    if (health.state === "stale") return ["stale", `stale since ${clock(health.since)}: ${health.reason}`];
    if (health.state === "starting") return ["waiting", `starting: ${health.reason}`];
    if (health.state === "off") return ["waiting", "not running"];
    if (feed === "opensearch") return ["live", `live · ${london.opensearch.data_streams.join(", ")}`];
    if (!topic) return ["live", "ok"];
    if (topic.waiting) return ["waiting", topic.text];
    return [topic.state, withAge(topic.text, topic.age_s)];
  }

  function applyStatus(message) {
    const london = message.health.london;
    const list = $("topics");
    clear(list);
    for (const feed of Object.keys(london.feeds)) {
      const [dot, text] = feedState(feed, london);
      const item = element("li");
      item.setAttribute("data-role", feed);
      if (london.topics[feed]) item.title = london.topics[feed].topic;
      item.append(element("span", `dot dot-${dot}`), element("strong", null, FEED_NAMES[feed] || feed));
      item.appendChild(element("span", "topic-text", text));
      list.appendChild(item);
    }
    const degraded = london.degraded.map((feed) => FEED_NAMES[feed] || feed);
    const banner = $("banner");
    // London left out of this run (run --network cta): say so, not an error.
    const notice = london.not_running || london.reason;
    banner.hidden = notice === null && degraded.length === 0;
    banner.classList.toggle("banner-degraded", london.reason === null && degraded.length > 0);
    banner.textContent = notice !== null ? notice
      : degraded.length ? `Degraded: ${degraded.join(", ")}; showing the last known state.` : "";
    if (connection && connection.isOpen()) {
      if (london.not_running) setConnection("not running", "wait");
      else if (london.reason === null) setConnection("live", "ok");
      else setConnection(message.health.kafka.connected ? "starting" : "no Kafka", "wait");
    }
  }

  // ---- the socket ---------------------------------------------------------------------------------
  let connection = null;

  function onMessage(message) {
    if (message.type === "snapshot") applySnapshot(message);
    else if (message.type === "status") applyStatus(message);
    else if (message.type === "updates") for (const update of message.updates) applyUpdate(update);
    window.london.messages += 1;
  }

  // For tests and curious people: read-only views of what the page shows.
  window.london = {
    snapshots: 0,
    messages: 0,
    seriesDrawn: 0,
    activity: (name) => model.stations.get(name) || null,
    radius: (name) => (circles.has(name) ? Number(circles.get(name).getAttribute("r")) : null),
    chartTotals: () => {
      const data = charts.hour ? charts.hour.data : null;
      return data ? { entries: data[1].reduce((a, b) => a + b, 0), exits: data[2].reduce((a, b) => a + b, 0) } : null;
    },
    connected: () => connection !== null && connection.isOpen(),
  };

  window.addEventListener("resize", () => drawSeries());
  document.addEventListener("DOMContentLoaded", () => {
    loadMap()
      .catch((error) => console.error("could not load the map", error))
      .finally(() => {
        connection = window.live.openSocket("/ws/london", onMessage);
      });
  });
})();
