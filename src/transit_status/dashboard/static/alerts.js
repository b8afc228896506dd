// Service health on both pages: Chicago's health strip per line and its alerts (/api/alerts), London's
// crowding alerts (/api/london/alerts). Polled every 2 s, or as often as an answer's poll_ms says (the
// dashboard_alerts_poll_s setting): alerts appear as they open and disappear when the job's clear record
// arrives. Built with DOM nodes (textContent), never HTML from the data.
(function () {
  "use strict";
  const POLL_MS = 2000;
  const MIN_POLL_MS = 200;

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
      item.append(el("span", "age", since(alert.since_ms, networkNow)));
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

  async function poll(url, render, waitMs = POLL_MS) {
    try {
      const response = await fetch(url, { cache: "no-store" });
      if (response.ok) {
        const body = await response.json();
        if (Number.isFinite(body.poll_ms)) waitMs = Math.max(MIN_POLL_MS, body.poll_ms);
        render(body);
      }
    } catch (error) {
      // The server is away: the connection pill says so; try again next round.
    }
    setTimeout(() => poll(url, render, waitMs), waitMs);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const strip = document.getElementById("health-strip");
    if (strip) {
      const list = document.getElementById("service-alerts");
      const empty = document.getElementById("service-alerts-empty");
      poll("/api/alerts", (body) => {
        renderStrip(strip, body.lines);
        renderChicagoAlerts(list, empty, body.open, body.network_time);
      });
    }
    const crowding = document.getElementById("crowding-alerts");
    if (crowding) {
      const empty = document.getElementById("crowding-alerts-empty");
      poll("/api/london/alerts", (body) => renderLondonAlerts(crowding, empty, body.open));
    }
  });
})();
