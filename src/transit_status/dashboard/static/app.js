// CTA 'L' status page: draws the map once, then keeps the table, markers, weather and freshness in
// step with the server's WebSocket (/ws): a snapshot, then updates. Every piece of data goes into
// the DOM as text (textContent / attributes), never as markup.
"use strict";

(() => {
  const { element, svgElement, formatAge, withAge, setConnection } = window.live;
  const FEED_NAMES = {
    kafka: "Kafka",
    registry: "Registry",
    stations: "Stations",
    arrivals: "Arrivals",
    turnstile_summary: "Turnstiles",
    weather: "Weather",
    run_times: "Run times",
    headways: "Headways",
    service_alerts: "Alerts",
  };

  // Where the trains come from (health.source): a real feed has no turnstiles or weather.
  let source = { simulated: true, label: "the simulation", note: null };

  const model = {
    seq: 0,
    trains: new Map(), // train_id -> train
    stations: new Map(), // line -> Map(station_id -> station)
    turnstiles: new Map(), // station_id -> count
    weather: null,
  };
  const lines = []; // [{line, name, colour}] in the network's order
  const lineInfo = new Map();
  const stationXY = new Map(); // station_id -> [x, y] from the map
  const markers = new Map(); // train_id -> <g>
  const cells = new Map(); // "line|station|dir" -> <td>
  const entryCells = new Map(); // station_id -> [<td>]
  const lineBodies = new Map(); // line -> <tbody>
  let trainLayer = null;

  const $ = (id) => document.getElementById(id);

  function colourOf(line) {
    return (lineInfo.get(line) || {}).colour || "#888888";
  }

  function nameOf(line) {
    const info = lineInfo.get(line);
    return info ? info.name : line;
  }

  // ---- map -------------------------------------------------------------------------------------
  async function loadMap() {
    const map = await window.live.loadMap("/api/map");
    if (map.heading) {
      // Another agency's trains (its static GTFS): its name, not the CTA's.
      document.querySelector("header.top h1").textContent = map.heading;
      document.title = map.heading;
    }
    drawMap(map);
  }

  function drawMap(map) {
    const svg = $("map");
    for (const line of map.lines) {
      lines.push(line);
      lineInfo.set(line.line, line);
    }
    const shapes = svgElement("g", { class: "shapes" });
    for (const shape of map.shapes) {
      const polyline = svgElement("polyline", {
        class: `shape line-${shape.line}`,
        points: shape.points.map((p) => `${p[0]},${p[1]}`).join(" "),
      });
      polyline.style.stroke = shape.colour;
      shapes.appendChild(polyline);
    }
    const stations = svgElement("g", { class: "stations" });
    for (const station of map.stations) {
      stationXY.set(station.station_id, [station.x, station.y]);
      // data-station-id: a click opens the station's arrivals board (arrivals.js).
      const dot = svgElement("circle", {
        class: "station", cx: station.x, cy: station.y, r: 2.2, "data-station-id": station.station_id,
      });
      const title = svgElement("title");
      title.textContent = station.name;
      dot.appendChild(title);
      stations.appendChild(dot);
    }
    trainLayer = svgElement("g", { class: "trains" });
    svg.append(shapes, stations, trainLayer);

    const legend = $("legend");
    for (const line of map.lines) {
      const item = element("li");
      const swatch = element("span", "swatch");
      swatch.style.background = line.colour;
      item.append(swatch, element("span", null, line.name));
      legend.appendChild(item);
    }
    for (const train of model.trains.values()) placeMarker(train);
  }

  function markerPoint(train) {
    const base = train.x !== null && train.x !== undefined ? [train.x, train.y] : stationXY.get(train.station_id);
    if (!base) return null;
    // Spread trains sharing a station: direction a left, b right; lines stacked a little.
    const index = lines.findIndex((line) => line.line === train.line);
    const side = train.direction === "a" ? -4.5 : 4.5;
    return [base[0] + side, base[1] + ((index < 0 ? 0 : index) - 3.5) * 1.6];
  }

  function placeMarker(train) {
    if (!trainLayer) return;
    const point = markerPoint(train);
    let marker = markers.get(train.train_id);
    if (!point) {
      if (marker) marker.remove();
      markers.delete(train.train_id);
      return;
    }
    if (!marker) {
      marker = svgElement("g", { "data-train-id": train.train_id });
      const dot = svgElement("circle", { r: 3.6 });
      const label = svgElement("text", { x: 5, y: 2.5 });
      const title = svgElement("title");
      marker.append(dot, label, title);
      marker.style.transform = `translate(${point[0]}px, ${point[1]}px)`;
      trainLayer.appendChild(marker);
      markers.set(train.train_id, marker);
    }
    marker.setAttribute("class", `train line-${train.line} status-${train.train_status}`);
    marker.setAttribute("data-station-id", String(train.station_id));
    marker.setAttribute("data-x", String(point[0]));
    marker.setAttribute("data-y", String(point[1]));
    marker.querySelector("circle").style.fill = colourOf(train.line);
    marker.querySelector("text").textContent = train.train_id;
    marker.querySelector("title").textContent =
      `${train.train_id} · ${train.route} · ${train.station_name} (${train.direction.toUpperCase()}) · ` +
      `${train.train_status.replace(/_/g, " ")}`;
    marker.style.transform = `translate(${point[0]}px, ${point[1]}px)`;
  }

  // ---- table -----------------------------------------------------------------------------------
  function stationsOf(line) {
    return [...(model.stations.get(line) || new Map()).values()].sort(
      (a, b) => a.order - b.order || a.station_id - b.station_id,
    );
  }

  function allLines() {
    const known = lines.map((line) => line.line);
    const extra = [...model.stations.keys()].filter((line) => !known.includes(line)).sort();
    return [...known, ...extra];
  }

  function renderLine(line) {
    const table = $("status-table");
    let body = lineBodies.get(line);
    const stations = stationsOf(line);
    if (!body) {
      body = element("tbody");
      body.setAttribute("data-line", line);
      lineBodies.set(line, body);
      // Keep the tbodies in the network's line order.
      const order = allLines();
      const next = order.slice(order.indexOf(line) + 1).map((l) => lineBodies.get(l)).find((b) => b && b.isConnected);
      table.insertBefore(body, next || null);
    }
    for (const [key, cell] of cells) if (key.startsWith(`${line}|`)) cells.delete(key);
    for (const [sid, list] of entryCells) {
      entryCells.set(sid, list.filter((cell) => cell.isConnected && cell.closest("tbody") !== body));
    }
    while (body.firstChild) body.removeChild(body.firstChild);
    body.hidden = stations.length === 0;
    if (stations.length) {
      const header = element("tr", "line-header");
      const th = element("th");
      th.colSpan = 5;
      const swatch = element("span", "swatch");
      swatch.style.background = colourOf(line);
      th.append(swatch, document.createTextNode(` ${nameOf(line)} Line · ${stations.length} stations`));
      header.appendChild(th);
      body.appendChild(header);
    }
    for (const station of stations) {
      const row = element("tr");
      row.setAttribute("data-station-id", String(station.station_id));
      const lineCell = element("td", "line-cell");
      const dot = element("span", "swatch");
      dot.style.background = colourOf(line);
      lineCell.append(dot, document.createTextNode(nameOf(line)));
      const nameCell = element("td", "station-name", station.station_name);
      const a = element("td", "dir dir-a");
      const b = element("td", "dir dir-b");
      const entries = element("td", "num entries");
      row.append(lineCell, nameCell, a, b, entries);
      body.appendChild(row);
      cells.set(`${line}|${station.station_id}|a`, a);
      cells.set(`${line}|${station.station_id}|b`, b);
      if (!entryCells.has(station.station_id)) entryCells.set(station.station_id, []);
      entryCells.get(station.station_id).push(entries);
      renderCell(line, station.station_id, "a");
      renderCell(line, station.station_id, "b");
      renderEntries(station.station_id);
    }
    $("table-empty").hidden = [...model.stations.values()].some((m) => m.size > 0);
  }

  function renderCell(line, stationId, direction) {
    const cell = cells.get(`${line}|${stationId}|${direction}`);
    if (!cell) return;
    while (cell.firstChild) cell.removeChild(cell.firstChild);
    const here = [...model.trains.values()]
      .filter((t) => t.line === line && t.station_id === stationId && t.direction === direction)
      .sort((x, y) => (x.train_id < y.train_id ? -1 : 1));
    for (const train of here) {
      const chip = element("span", `chip status-${train.train_status}`, train.train_id);
      if (train.train_status === "in_service") chip.style.background = colourOf(line);
      if (train.line === "yellow" && train.train_status === "in_service") chip.style.color = "#1d232b";
      chip.title = `${train.route} · ${train.train_status.replace(/_/g, " ")}`;
      cell.appendChild(chip);
    }
  }

  function renderEntries(stationId) {
    const count = model.turnstiles.get(stationId);
    for (const cell of entryCells.get(stationId) || []) {
      cell.textContent = count === undefined || count === null ? "–" : Number(count).toLocaleString("en-US");
    }
  }

  // ---- applying server messages ------------------------------------------------------------------
  function setTrain(train) {
    const before = model.trains.get(train.train_id);
    model.trains.set(train.train_id, train);
    if (before) renderCell(before.line, before.station_id, before.direction);
    renderCell(train.line, train.station_id, train.direction);
    placeMarker(train);
  }

  function setStation(station) {
    if (!model.stations.has(station.line)) model.stations.set(station.line, new Map());
    model.stations.get(station.line).set(station.station_id, station);
    scheduleLine(station.line);
  }

  const dirtyLines = new Set();
  let lineTimer = null;
  function scheduleLine(line) {
    // Many station records arrive together at start: redraw each line once per frame.
    dirtyLines.add(line);
    if (lineTimer === null) {
      lineTimer = requestAnimationFrame(() => {
        lineTimer = null;
        for (const dirty of dirtyLines) renderLine(dirty);
        dirtyLines.clear();
      });
    }
  }

  function setWeather(weather) {
    model.weather = weather;
    const status = $("weather-status");
    status.classList.toggle("known", Boolean(weather) && source.weather !== false);
    if (source.weather === false) {
      $("weather-temp").textContent = "";
      status.textContent = `none in ${source.label}`;
      return;
    }
    if (!weather) {
      $("weather-temp").textContent = "–";
      status.textContent = "waiting for data";
      return;
    }
    $("weather-temp").textContent = `${Number(weather.temperature).toFixed(1)} °F`;
    status.textContent = String(weather.status).replace(/_/g, " ");
  }

  function applySnapshot(message) {
    model.seq = message.seq;
    model.stations.clear();
    for (const group of message.stations) {
      const byId = new Map();
      for (const station of group.stations) byId.set(station.station_id, station);
      model.stations.set(group.line, byId);
    }
    model.turnstiles.clear();
    for (const [sid, count] of Object.entries(message.turnstiles)) model.turnstiles.set(Number(sid), count);
    model.trains.clear();
    for (const train of message.trains) model.trains.set(train.train_id, train);
    for (const [id, marker] of markers) {
      if (!model.trains.has(id)) {
        marker.remove();
        markers.delete(id);
      }
    }
    for (const body of lineBodies.values()) body.remove();
    lineBodies.clear();
    cells.clear();
    entryCells.clear();
    for (const line of allLines()) renderLine(line);
    for (const train of model.trains.values()) placeMarker(train);
    setWeather(message.weather);
    window.dashboard.snapshots += 1;
  }

  function applyUpdates(message) {
    for (const update of message.updates) applyUpdate(update, message.pushed_at);
  }

  function applyUpdate(message, pushedAt) {
    if (message.seq <= model.seq) return; // already in the snapshot
    model.seq = message.seq;
    switch (message.type) {
      case "train":
        setTrain(message.train);
        window.dashboard.lastTrainUpdate = { ...message, pushed_at: pushedAt, received_at_browser: Date.now() };
        break;
      case "station":
        setStation(message.station);
        break;
      case "station_removed":
        if (model.stations.has(message.line)) model.stations.get(message.line).delete(message.station_id);
        scheduleLine(message.line);
        break;
      case "turnstile":
        if (message.count === null) model.turnstiles.delete(message.station_id);
        else model.turnstiles.set(message.station_id, message.count);
        renderEntries(message.station_id);
        break;
      case "weather":
        setWeather(message.weather);
        break;
      default:
        break;
    }
  }

  function formatSince(state, since, serverTime) {
    if (since === null) return state;
    const clock = new Date(since).toLocaleTimeString("en-GB", { hour12: false });
    return `${state} since ${clock} (${formatAge((serverTime - since) / 1000).replace(" ago", "")})`;
  }

  // The server judges each feed (starting, ok, stale, failed, off: health.py); the page only words it.
  function feedText(feed, health, serverTime) {
    const state = health.feeds[feed];
    const topic = health.topics[feed];
    if (state.state === "stale" || state.state === "failed" || state.state === "degraded") {
      const since = formatSince(state.state, state.since, serverTime);
      const why = `${since}: ${state.reason}`;
      return topic && !topic.waiting ? withAge(why, topic.age_s, "data ") : why;
    }
    if (state.state === "starting") return `starting: ${state.reason}`;
    // Off: the network does not run, or (a real source) the feed has no such data, as its reason says.
    if (state.state === "off") return health.not_running ? "not running" : state.reason || "not running";
    return topic ? withAge(topic.text, topic.age_s) : "ok";
  }

  function feedDot(feed, health) {
    const state = health.feeds[feed].state;
    if (state === "failed" || state === "degraded") return "degraded";
    if (state === "stale") return "stale";
    if (state === "starting" || state === "off") return "waiting";
    return health.topics[feed] ? health.topics[feed].state : "live";
  }

  // A real source (Train Tracker, GTFS-realtime, a replay): say that it has no turnstile entries or
  // weather instead of showing empty counts; its own health is the "source" feed.
  function applySource(next) {
    const changed = JSON.stringify([next.simulated, next.label]) !== JSON.stringify([source.simulated, source.label]);
    source = next;
    FEED_NAMES.source = next.label;
    const note = $("source-note");
    note.hidden = next.simulated;
    note.textContent = next.simulated ? "" : next.note;
    $("status-table").classList.toggle("no-entries", next.turnstiles === false);
    document.body.dataset.source = next.kind;
    if (changed) setWeather(model.weather);
  }

  function applyStatus(message) {
    const health = message.health;
    if (health.source) applySource(health.source);
    const list = $("topics");
    while (list.firstChild) list.removeChild(list.firstChild);
    for (const feed of Object.keys(health.feeds)) {
      const item = element("li");
      item.setAttribute("data-role", feed);
      if (health.topics[feed]) item.title = health.topics[feed].topic;
      const dot = element("span", `dot dot-${feedDot(feed, health)}`);
      const text = feedText(feed, health, message.server_time);
      item.append(dot, element("strong", null, FEED_NAMES[feed] || feed), element("span", "topic-text", text));
      list.appendChild(item);
    }
    const weather = health.topics.weather;
    $("weather-age").textContent = weather && !weather.waiting ? formatAge(weather.age_s) : "";
    // Not ready: say why. Ready but some feed stale or failed: say which, and that the page shows the
    // last state. Still starting: what data it waits for.
    const degraded = health.degraded.map((feed) => FEED_NAMES[feed] || feed);
    const starting = Object.keys(health.feeds).filter((feed) => health.feeds[feed].state === "starting");
    const banner = $("banner");
    banner.hidden = message.ok && degraded.length === 0 && starting.length === 0;
    banner.classList.toggle("banner-degraded", message.ok && (degraded.length > 0 || starting.length > 0));
    if (health.not_running) banner.hidden = false;  // Chicago left out of this run (run --network london)
    if (!message.ok) banner.textContent = health.reason;
    else if (health.not_running) banner.textContent = health.not_running;
    else if (degraded.length) banner.textContent = `Degraded: ${degraded.join(", ")}; showing the last known state.`;
    else if (starting.length) {
      banner.textContent = `Starting: waiting for ${starting.map((feed) => FEED_NAMES[feed] || feed).join(", ")}.`;
    } else banner.textContent = "";
    if (connection && connection.isOpen()) {
      if (message.ok) setConnection("live", "ok");
      else setConnection(health.kafka.connected ? "starting" : "no Kafka", "wait");
    }
  }

  // ---- the socket ---------------------------------------------------------------------------------
  let connection = null;

  function onMessage(message) {
    if (message.type === "snapshot") applySnapshot(message);
    else if (message.type === "status") applyStatus(message);
    else if (message.type === "updates") applyUpdates(message);
    window.dashboard.messages += 1;
  }

  // For tests and curious people: read-only views of what the page shows.
  window.dashboard = {
    snapshots: 0,
    messages: 0,
    lastTrainUpdate: null,
    train: (id) => model.trains.get(id) || null,
    marker: (id) => {
      const marker = markers.get(id);
      return marker ? { x: Number(marker.dataset.x), y: Number(marker.dataset.y), station_id: Number(marker.dataset.stationId) } : null;
    },
    connected: () => connection !== null && connection.isOpen(),
  };

  document.addEventListener("DOMContentLoaded", () => {
    loadMap()
      .catch((error) => console.error("could not load the map", error))
      .finally(() => {
        connection = window.live.openSocket("/ws", onMessage);
      });
  });
})();
