// Service health on both pages: Chicago's health strip per line and its alerts, London's crowding
// alerts. Both come over the page's own WebSocket as "alerts" frames (the same body as /api/alerts and
// /api/london/alerts): the newest on connecting, then each change, within 0.1 s of an alert opening or
// clearing. Built with DOM nodes (textContent), never HTML from the data.
(function () {
  "use strict";
  const AGE_EVERY_MS = 1000;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function minutes(seconds) {
    return seconds === null || seconds === undefined ? "–" : (seconds / 60).toFixed(1) + " min";
  }

  // Alerts' times are the network's clock (simulated time when the trains are simulated, which runs
  // faster than the wall clock): said as such, with how long ago on that clock when the server knows it.
  function clock(ms) {
    return new Date(ms).toISOString().slice(11, 19) + " UTC";
  }

  function since(ms, networkNow) {
    const text = "since " + clock(ms) + " network time";
    if (networkNow === null || networkNow === undefined) return text;
    return text + " (" + minutes(Math.max(0, (networkNow - ms) / 1000)) + ")";
  }

  function renderStrip(container, lines) {
    container.replaceChildren();
    for (const line of lines) {
      const item = el("li", "health-line" + (line.open_alerts ? " health-alerting" : ""));
      item.dataset.line = line.line;
      item.append(el("strong", "", line.line));
      item.append(el("span", "", "every " + minutes(line.headway_s) + " (scheduled " + minutes(line.scheduled_headway_s) + ")"));
      if (line.dwell_s !== null && line.dwell_s !== undefined) item.append(el("span", "health-dwell", "stops " + Math.round(line.dwell_s) + " s"));
      item.append(el("span", "health-count", line.open_alerts + " open"));
      container.append(item);
    }
  }

  function renderChicagoAlerts(list, empty, alerts, networkNow) {
    list.replaceChildren();
    for (const alert of alerts) {
      const where = alert.where;
      const item = el("li", "alert alert-" + alert.kind);
      item.dataset.alertId = alert.alert_id;
      const place = where.line + " · " + where.station_name + " (" + where.direction + ")" + (where.train_id ? " · " + where.train_id : "");
      item.append(el("strong", "", alert.kind));
      item.append(el("span", "", place));
      const age = el("span", "age", since(alert.since_ms, networkNow));
      age.dataset.sinceMs = String(alert.since_ms);
      item.append(age);
      item.append(el("span", "why", alert.why.reason));
      list.append(item);
    }
    empty.hidden = alerts.length > 0;
  }

  function renderLondonAlerts(list, empty, alerts) {
    list.replaceChildren();
    for (const alert of alerts) {
      const item = el("li", "alert alert-crowding");
      item.dataset.alertId = alert.alert_id;
      item.append(el("strong", "", alert.station));
      item.append(el("span", "", (alert.ratio === null ? "–" : alert.ratio + "x") + " typical"));
      item.append(el("span", "age", "since " + alert.since.slice(11, 16) + " UTC, network time"));
      item.append(el("span", "why", alert.reason));
      list.append(item);
    }
    empty.hidden = alerts.length > 0;
  }

  // Alerts' ages run on the network's clock: from the frame's network_time and its rate (network seconds
  // per wall second), counted on between frames, which come only when something changes.
  function networkNow(body, receivedAt) {
    if (body.network_time === null || body.network_time === undefined) return null;
    return body.network_time + (Date.now() - receivedAt) * (body.rate || 1);
  }

  // Renders each frame as it comes; between frames (which come only when something changes) only the
  // ages of the open alerts move on, when the page shows any (Chicago's).
  function follow(render, ages) {
    let latest = null;
    let receivedAt = 0;
    function take(body) {
      latest = body;
      receivedAt = Date.now();
      render(latest, networkNow(latest, receivedAt));
    }
    document.addEventListener("live:alerts", (event) => take(event.detail));
    if (window.live && window.live.latest.alerts) take(window.live.latest.alerts);
    if (!ages) return;
    setInterval(() => {
      if (latest === null) return;
      const now = networkNow(latest, receivedAt);
      for (const age of ages.querySelectorAll(".age[data-since-ms]")) {
        age.textContent = since(Number(age.dataset.sinceMs), now);
      }
    }, AGE_EVERY_MS);
  }

  const strip = document.getElementById("health-strip");
  if (strip) {
    const list = document.getElementById("service-alerts");
    const empty = document.getElementById("service-alerts-empty");
    follow((body, now) => {
      renderStrip(strip, body.lines);
      renderChicagoAlerts(list, empty, body.open, now);
    }, list);
  }
  const crowding = document.getElementById("crowding-alerts");
  if (crowding) {
    const empty = document.getElementById("crowding-alerts-empty");
    follow((body) => renderLondonAlerts(crowding, empty, body.open), null);
  }
})();
