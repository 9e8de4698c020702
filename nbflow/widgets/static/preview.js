// Stored previews, tasks, logs and rich outputs, drawn as DOM nodes (see nbflow.render.report for
// the same rules in HTML): a DataFrame's head as a table, an array's shape, dtype and first
// values, anything else as text. Stored HTML is never rendered; images are <img> elements.

const TABLE_ROWS = 20;
const TABLE_COLUMNS = 30;
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"];
const TEXT_TYPES = ["text/plain", "text/markdown", "text/latex", "application/json"];
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
const READS_SHOWN = 50; // files read listed per task; a note counts the rest

function shapeText(shape) {
  if (!Array.isArray(shape)) return "";
  return shape.length ? shape.join(" × ") : "scalar";
}

// One stored preview as a node; never throws (a preview of an unexpected shape gets a note).
function renderPreview(preview) {
  try {
    return previewNode(preview);
  } catch (error) {
    return note(`preview could not be shown (${error && error.name})`);
  }
}

function previewNode(preview) {
  if (preview === null || typeof preview !== "object") {
    return clipped("code", {}, cellText(preview ?? ""));
  }
  const box = h("div", { class: "nbf-preview" });
  if (Array.isArray(preview.columns) && Array.isArray(preview.head)) box.append(frameNode(preview));
  else if (Array.isArray(preview.head) && Array.isArray(preview.index))
    box.append(seriesNode(preview));
  else if ("shape" in preview && Array.isArray(preview.values)) box.append(arrayNode(preview));
  else if ("value" in preview)
    box.append(clipped("code", {}, preview.repr ?? formatValue(preview.value)));
  else if ("repr" in preview) {
    box.append(clipped("code", {}, preview.repr));
    if (typeof preview.length === "number") {
      box.append(h("span", { class: "nbf-dim" }, ` length ${preview.length.toLocaleString()}`));
    }
  } else if (!preview.error) box.append(note("no preview"));
  if (preview.error) box.append(note(String(preview.error)));
  return box;
}

function frameNode(preview) {
  const columns = preview.columns.slice(0, TABLE_COLUMNS);
  const index = Array.isArray(preview.index) ? preview.index : [];
  const dtypes = Array.isArray(preview.dtypes) ? preview.dtypes : [];
  const rows = preview.head.filter(Array.isArray).slice(0, TABLE_ROWS);
  const table = h(
    "table",
    { class: "nbf-frame", "data-testid": "frame" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}),
        columns.map((c) => h("th", {}, cellText(c))),
      ),
      h(
        "tr",
        { class: "nbf-dtypes" },
        h("td", {}),
        dtypes.slice(0, columns.length).map((t) => h("td", {}, String(t))),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((row, i) =>
        h(
          "tr",
          {},
          h("th", {}, i < index.length ? cellText(index[i]) : ""),
          row.slice(0, TABLE_COLUMNS).map((cell) => clipped("td", {}, cellText(cell), 200)),
        ),
      ),
    ),
  );
  return h(
    "div",
    {},
    h("div", { class: "nbf-dim" }, `DataFrame ${shapeText(preview.shape)}`),
    h("div", { class: "nbf-wide" }, table),
    moreRows(preview, rows),
  );
}

function seriesNode(preview) {
  const head = preview.head.slice(0, TABLE_ROWS);
  const body = head.map((cell, i) =>
    h(
      "tr",
      {},
      h("th", {}, cellText(preview.index[i] ?? "")),
      clipped("td", {}, cellText(cell), 200),
    ),
  );
  const name =
    preview.name !== null && preview.name !== undefined ? ` ${cellText(preview.name)}` : "";
  return h(
    "div",
    {},
    h(
      "div",
      { class: "nbf-dim" },
      `Series${name} ${shapeText(preview.shape)} ${preview.dtype ?? ""}`,
    ),
    h("table", { class: "nbf-frame" }, h("tbody", {}, body)),
    moreRows(preview, head),
  );
}

function moreRows(preview, shown) {
  const rows =
    Array.isArray(preview.shape) && typeof preview.shape[0] === "number" ? preview.shape[0] : 0;
  return rows > shown.length ? note(`… ${(rows - shown.length).toLocaleString()} more rows`) : null;
}

function arrayNode(preview) {
  const values = preview.values.slice(0, TABLE_ROWS);
  const size = Array.isArray(preview.shape)
    ? preview.shape.reduce((a, b) => a * b, 1)
    : values.length;
  const rest = size > values.length ? ", …" : "";
  return h(
    "div",
    {},
    h("div", { class: "nbf-dim" }, `array ${shapeText(preview.shape)} ${preview.dtype ?? ""}`),
    clipped("code", {}, `[${values.map(cellText).join(", ")}${rest}]`),
  );
}

// -- tasks ---------------------------------------------------------------------------------

function renderTask(task, open) {
  const facts = [badge(task.status), " ", h("code", {}, task.id)];
  if (task.attempt > 1) facts.push(` attempt ${task.attempt}`);
  if (typeof task.duration === "number") facts.push(` · ${formatDuration(task.duration)}`);
  if (task.origin) facts.push(" · reused from ", h("code", {}, task.origin));
  const artifacts = Array.isArray(task.artifacts) ? task.artifacts : [];
  const item = task.item_name ? artifacts.find((a) => a.name === task.item_name) : null;
  if (item) facts.push(" · item ", clipped("code", {}, shortPreview(item.preview), 80));
  const own = artifacts.filter((a) => a.kind !== "inherited");
  const inherited = artifacts.filter((a) => a.kind === "inherited");
  const body = h(
    "div",
    { class: "nbf-task-body" },
    task.error ? errorNode(task.error) : null,
    artifactTable(own, "no artifacts of its own"),
    inherited.length
      ? h(
          "details",
          {},
          h("summary", {}, `${inherited.length} artifact(s) from earlier steps`),
          artifactTable(inherited, ""),
        )
      : null,
    readsNode(task.reads),
    logNode("stdout", task.stdout),
    logNode("stderr", task.stderr),
    (task.displays || []).map(displayNode),
    task.displays_left_out ? note(`${task.displays_left_out} more outputs left out`) : null,
  );
  return h(
    "details",
    { class: "nbf-task", "data-testid": `task-${task.id}`, open: open },
    h("summary", {}, facts),
    body,
  );
}

function shortPreview(preview) {
  if (!preview || typeof preview !== "object") return cellText(preview ?? "");
  if ("columns" in preview) return `DataFrame ${shapeText(preview.shape)}`;
  if ("shape" in preview) return `${preview.type ?? ""} ${shapeText(preview.shape)}`;
  return String(preview.repr ?? formatValue(preview.value));
}

function artifactTable(artifacts, empty) {
  if (!artifacts.length) return empty ? note(empty) : null;
  const rows = artifacts.map((a) =>
    h(
      "tr",
      { "data-testid": `artifact-${a.name}` },
      h("th", {}, a.name),
      h("td", { class: "nbf-dim" }, String(a.type_name ?? "").replace(/^builtins\./, "")),
      h("td", {}, renderPreview(a.preview)),
    ),
  );
  return h("table", { class: "nbf-artifacts" }, h("tbody", {}, rows));
}

// The files the task read, one line each: path (cut from the left when long, whole in its
// tooltip), size and the start of the content hash.
function readsNode(reads) {
  if (!Array.isArray(reads) || !reads.length) return null;
  const left = reads.length - READS_SHOWN;
  return h(
    "div",
    { class: "nbf-reads", "data-testid": "task-reads" },
    h("div", { class: "nbf-label" }, "files read"),
    h("ul", {}, reads.slice(0, READS_SHOWN).map(readLine)),
    left > 0 ? note(`… ${left.toLocaleString()} more files`) : null,
  );
}

function readLine(read) {
  const path = String(read.path ?? "");
  const hash = String(read.hash ?? "");
  return h(
    "li",
    { "data-testid": "task-read" },
    // Right-to-left, so the ellipsis of a path too long for the panel eats its start and the
    // file name stays in view; the <bdi> keeps the path's own characters in order.
    h("code", { class: "nbf-read-path", title: path }, h("bdi", {}, path)),
    h("span", { class: "nbf-dim nbf-num" }, formatSize(read.size)),
    h("code", { class: "nbf-dim", title: `xxh3-128 ${hash}` }, hash.slice(0, 12)),
  );
}

function errorNode(error) {
  const data = typeof error === "object" && error ? error : { evalue: String(error) };
  const line = `${data.ename || "Error"}: ${data.evalue ?? ""}`.split("\n")[0];
  return h(
    "div",
    { class: "nbf-error", "data-testid": "task-error" },
    h("strong", {}, line),
    data.traceback ? clipped("pre", {}, String(data.traceback).replace(ANSI, ""), 20000) : null,
  );
}

function logNode(name, text) {
  if (!text) return null;
  return h(
    "div",
    { class: "nbf-log" },
    h("div", { class: "nbf-label" }, name),
    clipped("pre", { "data-testid": name }, String(text).replace(ANSI, ""), 20000),
  );
}

// One stored MIME bundle: an image as an <img>, anything else as text. Stored HTML is
// shown as its text/plain alternative or, when there is none, as its source.
function displayNode(shown) {
  const data = (shown && shown.data) || {};
  const notes = ((shown && shown.notes) || []).map(note);
  for (const mime of IMAGE_TYPES) {
    if (mime in data)
      return h(
        "div",
        { class: "nbf-output" },
        imageNode(mime, data[mime], data["text/plain"]),
        notes,
      );
  }
  const plain = data["text/plain"];
  if ("text/html" in data && (!plain || /^<[\w.]+ object( at 0x[0-9a-f]+)?>$/.test(plain.trim()))) {
    return h(
      "div",
      { class: "nbf-output" },
      h("div", { class: "nbf-label" }, "HTML output, shown as its source"),
      clipped("pre", {}, data["text/html"]),
      notes,
    );
  }
  for (const mime of TEXT_TYPES) {
    if (mime in data)
      return h("div", { class: "nbf-output" }, clipped("pre", {}, data[mime]), notes);
  }
  return h(
    "div",
    { class: "nbf-output" },
    notes.length ? notes : note(`kinds not shown: ${Object.keys(data).join(", ")}`),
  );
}

function imageNode(mime, value, alt) {
  let encoded = String(value);
  if (mime === "image/svg+xml") encoded = base64Utf8(encoded); // an <img>: no script in it runs
  encoded = encoded.replace(/\s+/g, "");
  if (!BASE64.test(encoded)) return note("image data is not base64; left out");
  return h("img", {
    src: `data:${mime};base64,${encoded}`,
    alt: alt ? String(alt) : mime,
    "data-testid": "task-image",
  });
}

function base64Utf8(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let at = 0; at < bytes.length; at += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  }
  return btoa(binary);
}
