// Shared by the Chicago and London pages: DOM helpers that put data in as text (never as markup),
// ages in words, and the WebSocket that reconnects by itself and says so in the #connection pill.
"use strict";

window.live = (() => {
  const SVG_NS = "http://www.w3.org/2000/svg";

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svgElement(tag, attributes) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // Fetches a map (e.g. /api/map) and fits the #map SVG, emptied, to its size.
  async function loadMap(path) {
    const response = await fetch(path, { cache: "no-cache" });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    const map = await response.json();
    const svg = document.getElementById("map");
    svg.setAttribute("viewBox", `0 0 ${map.width} ${map.height}`);
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    clear(svg);
    return map;
  }

  function formatAge(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 1) return "just now";
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    return `${Math.round(seconds / 3600)} h ago`;
  }

  // A feed's text and, after a separator, the age of its newest record ("data " before it, say); the text
  // alone while there is no record (a quiet topic: the alerts while service is healthy), never "text · ".
  function withAge(text, seconds, prefix = "") {
    const age = formatAge(seconds);
    return age ? `${text} · ${prefix}${age}` : text;
  }

  function setConnection(text, kind) {
    const pill = document.getElementById("connection");
    pill.textContent = text;
    pill.className = `pill pill-${kind}`;
  }

  // Opens ws(s)://<host><path>, hands every parsed message to onMessage and to a document event
  // "live:<type>", reconnects with backoff.
  const latest = {};
  const SEQUENCED = new Set(["snapshot", "updates"]);

  function openSocket(path, onMessage) {
    let socket = null;
    let retryMs = 500;
    function connect() {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      socket = new WebSocket(`${scheme}://${location.host}${path}`);
      socket.addEventListener("open", () => {
        retryMs = 500;
        setConnection("connected", "ok");
      });
      socket.addEventListener("message", (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch (error) {
          console.warn("unreadable message", error);
          return;
        }
        try {
          onMessage(message);
        } catch (error) {
          console.error(`could not apply a ${message.type} frame`, error);
        }
        // Other scripts on the page (alerts.js) take the frames they know from here, whatever the page;
        // the newest whole view of each type is kept for a script that starts listening after it came.
        if (!SEQUENCED.has(message.type)) latest[message.type] = message;
        document.dispatchEvent(new CustomEvent(`live:${message.type}`, { detail: message }));
      });
      socket.addEventListener("close", () => {
        setConnection(`reconnecting in ${(retryMs / 1000).toFixed(1)} s…`, "wait");
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 5000);
      });
      socket.addEventListener("error", () => socket.close());
    }
    connect();
    return { isOpen: () => socket !== null && socket.readyState === WebSocket.OPEN };
  }

  return { element, svgElement, clear, loadMap, formatAge, withAge, setConnection, openSocket, latest };
})();
