// nbflow widgets: shared helpers. Preceded by STYLES and UNKNOWN_STYLE (from nbflow.render.svg).
//
// Every string that comes from the store reaches the page as text: element contents through
// text nodes, attributes through setAttribute. Nothing here parses HTML.

// The SVG namespace is a name, not an address: nothing is ever fetched from it.
const SVG_NS = "http://www.w3.org/2000/svg";
const TEXT_LIMIT = 2000; // characters of one preview text shown before a "more" note

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) {
      if (typeof value === "function") node.addEventListener(name.slice(2), value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Replace a node's children (strings become text nodes; arrays and nulls are fine).
function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

// h("td", {class: "x"}, "text", otherNode): an HTML element; strings become text nodes.
function h(tag, attrs, ...children) {
  return append(setAttrs(document.createElement(tag), attrs), children);
}

function s(tag, attrs, ...children) {
  return append(setAttrs(document.createElementNS(SVG_NS, tag), attrs), children);
}

function styleOf(status) {
  return STYLES[status] || UNKNOWN_STYLE;
}

function badge(status) {
  const style = styleOf(status);
  return h(
    "span",
    {
      class: "nbf-badge",
      "data-status": status,
      style: `background:${style.fill};color:${style.ink};border-color:${style.stroke}`,
    },
    `${style.glyph} ${status}`,
  );
}

// The same wording as nbflow.render.svg.format_duration: '3 ms', '0.42 s', '3 min 2 s'.
function formatDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 0.0995) return seconds < 0.0005 ? "<1 ms" : `${(seconds * 1000).toFixed(0)} ms`;
  if (seconds < 9.995) return `${seconds.toFixed(2)} s`;
  if (seconds < 59.95) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) {
    const minutes = Math.floor(whole / 60);
    const rest = whole % 60;
    return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
  }
  const hours = Math.floor(whole / 3600);
  const rest = whole % 3600;
  return rest >= 60 ? `${hours} h ${Math.floor(rest / 60)} min` : `${hours} h`;
}

// The same wording as `nbflow show` gives the files a run read: '812 bytes', '1.5 KB', '3.2 GB'.
function formatSize(bytes) {
  if (typeof bytes !== "number" || !Number.isFinite(bytes) || bytes < 0) return "";
  if (bytes < 1024) return `${bytes} bytes`;
  let size = bytes / 1024;
  let unit = "KB";
  for (const bigger of ["MB", "GB", "TB"]) {
    if (size < 1024) break;
    size /= 1024;
    unit = bigger;
  }
  return `${size.toFixed(1)} ${unit}`;
}

// A parameter or result as Python writes it: strings quoted, so '1' and 1 differ.
function formatValue(value) {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") {
    const exact = String(value);
    return exact.length <= 12 ? exact : value.toPrecision(6);
  }
  if (typeof value === "string") return `'${value}'`;
  try {
    return JSON.stringify(value);
  } catch (error) {
    return String(value);
  }
}

// A cell's text: a string as it is, anything else as formatValue shows it.
function cellText(value) {
  return typeof value === "string" ? value : formatValue(value);
}

function whenText(epochSeconds) {
  if (typeof epochSeconds !== "number") return "-";
  const d = new Date(epochSeconds * 1000);
  const two = (n) => String(n).padStart(2, "0");
  return (
    `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
  );
}

// Text cut to `limit` characters, with a note saying how much was left out.
function clipped(tag, attrs, text, limit = TEXT_LIMIT) {
  const value = String(text ?? "");
  if (value.length <= limit) return h(tag, attrs, value);
  const more = `… ${(value.length - limit).toLocaleString()} more characters`;
  return h(tag, attrs, value.slice(0, limit), h("span", { class: "nbf-cut" }, more));
}

function note(text) {
  return h("p", { class: "nbf-note" }, text);
}

function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

// Listen to the model until the view goes away; returns the cleanup anywidget calls.
function listen(model, handlers) {
  for (const [event, handler] of Object.entries(handlers)) model.on(event, handler);
  return () => {
    for (const [event, handler] of Object.entries(handlers)) model.off(event, handler);
  };
}
