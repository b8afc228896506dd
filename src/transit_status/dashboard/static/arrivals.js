// Chicago's arrivals boards: a click on a station of the map opens its board (/api/stations/{id}/arrivals),
// fetched again every couple of seconds while open; between fetches every row counts down on the network's
// clock (simulated minutes run `rate` times faster than the wall clock). Below the map: how accurate the
// predictions have been (/api/predictions). Everything goes into the DOM as text.
"use strict";

(() => {
  const { element, clear } = window.live;
  const REFRESH_MS = 2000;
  const TICK_MS = 250;
  const ACCURACY_EVERY_MS = 5000;
  const DUE_S = 30;

  const $ = (id) => document.getElementById(id);
  let stationId = null;
  let board = null; // the last board fetched
  let fetchedAt = 0; // performance.now() when it arrived
  let refreshTimer = null;
  let generation = 0; // drops answers for a station no longer shown

  // The network's time now: the board's, moved on by the wall time since, at the network's rate.
  function networkNow() {
    return board.network_time + board.rate * (performance.now() - fetchedAt);
  }

  function minutesText(seconds) {
    return seconds < DUE_S ? "Due" : `${Math.max(1, Math.round(seconds / 60))} min`;
  }

  function clockText(seconds) {
    const whole = Math.max(0, Math.round(seconds));
    return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
  }

  async function open(id) {
    if (stationId !== id) {
      stationId = id;
      board = null;
      generation += 1;
      for (const dot of document.querySelectorAll("#map circle.station.selected")) dot.classList.remove("selected");
      const dot = document.querySelector(`#map circle.station[data-station-id="${id}"]`);
      if (dot) dot.classList.add("selected");
      $("board-station").textContent = "…";
      clear($("board-platforms"));
      $("arrivals-board").hidden = false;
    }
    clearTimeout(refreshTimer);
    await refresh();
  }

  function close() {
    stationId = null;
    board = null;
    generation += 1;
    clearTimeout(refreshTimer);
    $("arrivals-board").hidden = true;
    for (const dot of document.querySelectorAll("#map circle.station.selected")) dot.classList.remove("selected");
  }

  async function refresh() {
    const asked = generation;
    const id = stationId;
    try {
      const response = await fetch(`/api/stations/${id}/arrivals`, { cache: "no-cache" });
      const body = await response.json();
      if (asked !== generation) return;
      if (!response.ok) {
        showNote(body.detail || `HTTP ${response.status}`);
      } else {
        board = body;
        fetchedAt = performance.now();
        render();
      }
    } catch (error) {
      if (asked === generation) showNote(`could not load the board: ${error}`);
    }
    if (asked === generation) refreshTimer = setTimeout(refresh, REFRESH_MS);
  }

  function showNote(text) {
    const note = $("board-note");
    note.textContent = text || "";
    note.hidden = !text;
  }

  function render() {
    $("board-station").textContent = board.station_name;
    $("board-basis").textContent = `Minutes away: ${board.time_basis}.`;
    showNote(board.note);
    const container = $("board-platforms");
    clear(container);
    for (const platform of board.platforms) {
      const section = element("section", "platform");
      section.setAttribute("data-platform", platform.platform);
      section.appendChild(element("h3", null, `${platform.platform} · to ${platform.destinations.join(" / ")}`));
      if (platform.dwell_s !== null && platform.dwell_s !== undefined) {
        section.appendChild(element("p", "dwell", `Trains stand here ${Math.round(platform.dwell_s)} s (typical of the last stops).`));
      }
      if (!platform.trains.length) {
        section.appendChild(element("p", "note", "No train predicted."));
      } else {
        const table = element("table", "compact");
        const body = element("tbody");
        for (const train of platform.trains) {
          const row = element("tr", train.delayed ? "train-row delayed" : "train-row");
          row.setAttribute("data-train-id", train.train_id);
          row.setAttribute("data-predicted-at", String(train.predicted_at));
          const line = element("td", "line-cell");
          const swatch = element("span", "swatch");
          swatch.style.background = train.colour || "#888888";
          line.append(swatch, document.createTextNode(train.line));
          const minutes = element("td", "minutes");
          row.append(
            line,
            element("td", "destination", train.destination),
            element("td", "train-id", train.delayed ? `${train.train_id} (delayed)` : train.train_id),
            minutes,
          );
          body.appendChild(row);
        }
        table.appendChild(body);
        section.appendChild(table);
      }
      container.appendChild(section);
    }
    tick();
  }

  // Every row counts down between fetches.
  function tick() {
    if (!board || board.network_time === null) return;
    const now = networkNow();
    for (const row of document.querySelectorAll("#board-platforms tr.train-row")) {
      const seconds = Math.max(0, (Number(row.dataset.predictedAt) - now) / 1000);
      row.dataset.seconds = seconds.toFixed(1);
      const cell = row.querySelector("td.minutes");
      cell.textContent = minutesText(seconds);
      cell.appendChild(element("span", "secs", clockText(seconds)));
    }
  }

  async function refreshAccuracy() {
    try {
      const response = await fetch("/api/predictions", { cache: "no-cache" });
      if (!response.ok) return;
      const summary = await response.json();
      const parts = summary.accuracy
        .filter((row) => row.normal.samples > 0)
        .map((row) => `${row.horizon_s / 60} min ahead: p50 ${row.normal.p50_s} s, p90 ${row.normal.p90_s} s`);
      const scored = summary.accuracy.reduce((sum, row) => Math.max(sum, row.normal.samples), 0);
      $("prediction-accuracy").textContent = parts.length
        ? `Prediction error outside breakdowns (${scored} arrivals, network seconds) — ${parts.join(" · ")}. ` +
          "Click a station for its next trains."
        : `Learning: ${summary.run_times_learned} run times so far; no arrival scored yet. Click a station for its next trains.`;
    } catch (error) {
      console.warn("could not load the prediction accuracy", error);
    }
  }

  window.arrivalsBoard = {
    station: () => stationId,
    board: () => board,
    open,
  };

  document.addEventListener("DOMContentLoaded", () => {
    $("map").addEventListener("click", (event) => {
      const dot = event.target.closest && event.target.closest("circle.station");
      if (dot) open(Number(dot.getAttribute("data-station-id")));
    });
    $("board-close").addEventListener("click", close);
    setInterval(tick, TICK_MS);
    refreshAccuracy();
    setInterval(refreshAccuracy, ACCURACY_EVERY_MS);
  });
})();
