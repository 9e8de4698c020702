"""A run as one self-contained HTML page: `run.report()`, `nbflow show --html RUN > report.html`.

The page opens offline and runs nothing: CSS and SVG are inline, images are `data:` URIs, and
there are no scripts or external addresses. It is built from the same views as the graph and
the previews stored with each artifact, so nothing is unpickled. Everything taken from the
store (names, previews, logs, errors, rich outputs) is escaped and shown as text; stored HTML
is never trusted, so an artifact whose value is `<script>` shows those characters. Long texts
are cut with a note, and the page is pure ASCII (other characters become references), so it
survives any terminal encoding on its way to a file.
"""

from __future__ import annotations

import base64
import datetime
import html
import math
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbflow.query.views import run_view
from nbflow.render.svg import STATUS_STYLES, render_svg, render_timeline_svg
from nbflow.render.text import format_duration, format_size

if TYPE_CHECKING:
    from nbflow.query.client import Run, Step, Task
    from nbflow.store.metadata import ArtifactRecord

__all__ = ["Report", "preview_html", "report_html"]

PREVIEW_LIMIT = 2_000  # characters of one preview text (a repr, a cell)
LOG_LIMIT = 20_000  # characters of one log or traceback: the head and the tail are kept
ELEMENT_LIMIT = 500  # foreach elements listed in a step's table
DETAIL_LIMIT = 20  # foreach elements shown in full (failed ones always, up to ELEMENT_LIMIT)
TABLE_ROWS = 20  # rows and columns of a stored head drawn, whatever the preview holds
TABLE_COLUMNS = 30
IMAGE_LIMIT = 4_000_000  # characters of one base64 image; a bigger one is left out with a note
_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")
_TEXTS = ("text/plain", "text/markdown", "text/latex", "application/json")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Characters HTML cannot carry as text (controls, lone surrogates): shown as U+FFFD.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_GENERIC_REPR = re.compile(r"<[\w.]+ object( at 0x[0-9a-f]+)?>")


class Report:
    """A run's HTML report: `.html`, `.save(path)`; shown in a notebook in a sandboxed iframe,
    so its CSS stays inside it."""

    def __init__(self, page: str, name: str = "run") -> None:
        self.html = page
        self.name = name

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(self.html, encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        return (
            f'<iframe title="nbflow report {_esc(self.name)}" sandbox="" '
            f'style="width: 100%; height: 720px; border: 1px solid #d0d7de; border-radius: 6px" '
            f'srcdoc="{html.escape(self.html, quote=True)}"></iframe>'
        )

    def __repr__(self) -> str:
        return f"<Report of run {self.name}: {len(self.html):,} characters of HTML>"


def report_html(run: Run) -> str:
    """The whole page: header, graph, parameters, results, timeline, then every step."""
    from nbflow.query.results import end_artifacts, results

    view = run_view(run)
    recorded = {step.name: step for step in run.steps()}
    steps = [_step(number, step, recorded.get(str(step.get("name"))))
             for number, step in enumerate(view["steps"], start=1)]  # fmt: skip
    body = [
        _header(run),
        _section("Graph", _figure(render_svg(view))),
        _section("Parameters", _values_table(run.params, "no parameters")),
        _section("Results", _values_table(results(end_artifacts(run)), "no scalar results")),
        _section("Timeline", _figure(render_timeline_svg([view]))),
        _section("Steps", _contents(view["steps"]) + "".join(steps)),
        "<footer>made by nbflow</footer>",
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>nbflow run {_esc(run.pathspec)} ({_esc(run.status)})</title>\n"
        f"<style>{_css()}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
    return page.encode("ascii", "xmlcharrefreplace").decode("ascii")


# -- the run -----------------------------------------------------------------------------------


def _header(run: Run) -> str:
    started, finished = run.created_at.timestamp(), run.finished_at
    facts = [f"flow {_esc(run.flow)}", f"started {_esc(_when(started))}"]
    if run.status == "running":
        elapsed = time.time() - started
        facts.append(f"still running ({_esc(format_duration(elapsed))} so far)")
    else:
        facts.append(f"duration {_esc(format_duration(run.duration) or '-')}")
        facts.append(f"finished {_esc(_when(finished.timestamp() if finished else None))}")
    if run.user_tags:
        facts.append("tags " + ", ".join(_esc(tag) for tag in run.as_dict()["tags"]))
    return (
        f"<header><h1>run {_esc(run.pathspec)} {_badge(run.status)}</h1>"
        f'<p class="facts">{" &middot; ".join(facts)}</p></header>'
    )


def _section(title: str, content: str) -> str:
    return f"<section><h2>{_esc(title)}</h2>\n{content}\n</section>"


def _figure(svg: str) -> str:
    # Inline SVG in HTML needs no namespace declaration; dropping it keeps the page free of
    # any address at all.
    inline = svg.replace(' xmlns="http://www.w3.org/2000/svg"', "")
    return f'<div class="figure">{inline}</div>'


def _values_table(values: Mapping[str, Any], empty: str) -> str:
    if not values:
        return f'<p class="note">{_esc(empty)}</p>'
    rows = "".join(
        f"<tr><th>{_esc(name)}</th><td><code>{_text(_literal(value))}</code></td></tr>"
        for name, value in values.items()
    )
    return f'<table class="values">{rows}</table>'


def _contents(steps: Sequence[Mapping[str, Any]]) -> str:
    rows = "".join(
        f'<tr><td><a href="#step-{number}">{_esc(_str(step.get("name")))}</a></td>'
        f"<td>{_badge(_str(step.get('status')))}</td><td>{_task_count(step)}</td>"
        f'<td class="num">{_esc(format_duration(_number(step.get("duration"))))}</td></tr>'
        for number, step in enumerate(steps, start=1)
    )
    head = "<tr><th>step</th><th>status</th><th>tasks</th><th>duration</th></tr>"
    return f'<table class="grid contents"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _task_count(step: Mapping[str, Any]) -> str:
    counts = step.get("tasks")
    if not isinstance(counts, Mapping) or not counts.get("total"):
        return ""
    finished = int(counts.get("done", 0)) + int(counts.get("cached", 0))
    failed = int(counts.get("failed", 0))
    text = f"{finished}/{int(counts['total'])} done"
    return _esc(text + (f", {failed} failed" if failed else ""))


# -- steps and tasks ---------------------------------------------------------------------------


def _step(number: int, view: Mapping[str, Any], step: Step | None) -> str:
    status = _str(view.get("status"))
    facts = []
    if view.get("parents"):
        facts.append("after " + ", ".join(_esc(_str(p)) for p in view["parents"]))
    if view.get("foreach"):
        facts.append(f"foreach over {_esc(_str(view['foreach']))}")
    if view.get("join"):
        facts.append("join")
    duration = _esc(format_duration(_number(view.get("duration"))))
    head = (
        f'<h3 id="step-{number}">{_esc(_str(view.get("name")))} {_badge(status)} '
        f'<span class="dim">{duration}</span></h3>'
        + (f'<p class="facts">{" &middot; ".join(facts)}</p>' if facts else "")
    )
    tasks = step.tasks() if step is not None else []
    if not tasks:
        why = "not started yet" if status == "pending" else "not run in this run"
        body = f'<p class="note">{why}</p>'
    elif view.get("foreach") or len(tasks) > 1:
        body = _elements(tasks, _str((step.spec if step else {}).get("foreach_as") or "item"))
    else:
        body = _task(tasks[0])
    return f'<article class="step">{head}{body}</article>'


def _elements(tasks: Sequence[Task], item_name: str) -> str:
    """A foreach: one table row per element, then the elements in full (failed ones open)."""
    rows = [_element_row(task, item_name) for task in tasks[:ELEMENT_LIMIT]]
    head = "<tr><th>#</th><th>item</th><th>status</th><th>duration</th><th>outputs</th></tr>"
    parts = [f'<table class="grid elements"><thead>{head}</thead><tbody>{"".join(rows)}</tbody>'
             "</table>"]  # fmt: skip
    if len(tasks) > ELEMENT_LIMIT:
        parts.append(_note(f"{len(tasks) - ELEMENT_LIMIT:,} more elements not listed"))
    shown = [t for i, t in enumerate(tasks[:ELEMENT_LIMIT]) if i < DETAIL_LIMIT or _failed(t)]
    for task in shown:
        opened = " open" if _failed(task) else ""
        parts.append(
            f'<details class="element"{opened}><summary>element {_element(task)} '
            f"{_badge(task.status)} <code>{_esc(task.pathspec)}</code></summary>"
            f"{_task(task, inherited=False)}</details>"
        )
    if len(shown) < min(len(tasks), ELEMENT_LIMIT):
        parts.append(_note(f"the other {min(len(tasks), ELEMENT_LIMIT) - len(shown):,} "
                           "elements are in the table above only"))  # fmt: skip
    return "".join(parts)


def _element_row(task: Task, item_name: str) -> str:
    item = task.artifacts.get(item_name)
    # A failed element stored nothing, so its item is not known without unpickling the list.
    shown = f"<code>{_text(_short(item.preview))}</code>" if item else '<span class="dim">-</span>'
    outputs = [a for a in _own(task) if a.name not in (item_name, "item_index")]
    summary = ", ".join(f"{a.name}={_short(a.preview)}" for a in outputs)
    return (
        f'<tr><td class="num">{_element(task)}</td><td>{shown}</td><td>{_badge(task.status)}</td>'
        f'<td class="num">{_esc(format_duration(task.duration))}</td>'
        f'<td><span class="err">{_esc(_error_line(task.error))}</span>'
        f"<code>{_text(summary)}</code></td></tr>"
    )


def _task(task: Task, *, inherited: bool = True) -> str:
    facts = [f"task <code>{_esc(task.pathspec)}</code>", _badge(task.status)]
    if task.attempt > 1:
        facts.append(f"attempt {task.attempt}")
    if task.duration is not None:
        facts.append(_esc(format_duration(task.duration)))
    if task.status == "cached" and task.origin is not None:
        facts.append(f"reused from <code>{_esc(task.origin.pathspec)}</code>")
    parts = [f'<p class="facts">{" ".join(facts)}</p>']
    if task.error:
        parts.append(_error(task.error))
    parts.append(_artifacts(_own(task), "no artifacts of its own"))
    earlier = [a for a in task.artifacts.values() if a.kind == "inherited"]
    if inherited and earlier:
        parts.append(
            f"<details><summary>{len(earlier)} artifact{'s' * (len(earlier) != 1)} from earlier "
            f"steps</summary>{_artifacts(earlier, '')}</details>"
        )
    parts += [_log("stdout", task.stdout), _log("stderr", task.stderr)]
    parts += [_display(shown) for shown in task.displays[:50]]
    return f'<div class="task">{"".join(parts)}</div>'


def _own(task: Task) -> list[ArtifactRecord]:
    return [a for a in task.artifacts.values() if a.kind != "inherited"]


def _element(task: Task) -> str:
    path = task.path
    return str(path[-1]) if path else ""


def _failed(task: Task) -> bool:
    return task.status == "failed" or bool(task.error)


def _error_line(error: object) -> str:
    if not error:
        return ""
    if not isinstance(error, Mapping):
        return _str(error).splitlines()[0][:200] + " "
    what = f"{_str(error.get('ename') or 'Error')}: {_str(error.get('evalue'))}"
    return what.splitlines()[0][:200] + " "


def _error(error: object) -> str:
    line = ""
    if isinstance(error, Mapping):
        trace = _str(error.get("traceback"))
        if isinstance(error.get("line"), int):
            line = f" (cell line {error['line']})"
    else:
        trace = _str(error)
    return (
        f'<div class="error"><p><strong>{_esc(_error_line(error).strip())}</strong>'
        f"{_esc(line)}</p>{_pre(_ANSI.sub('', trace), 'traceback')}</div>"
    )


def _log(name: str, text: object) -> str:
    content = _str(text)
    if not content:
        return ""
    lines = content.count("\n") + (not content.endswith("\n"))
    label = f"{name} &middot; {lines:,} line{'s' * (lines != 1)}"
    return f'<div class="log"><div class="label">{label}</div>{_pre(_ANSI.sub("", content))}</div>'


def _pre(text: str, kind: str = "") -> str:
    if len(text) <= LOG_LIMIT:
        body = _esc(text)
    else:
        half = LOG_LIMIT // 2
        cut = f"\n\u2026 {len(text) - LOG_LIMIT:,} more characters \u2026\n"
        body = f'{_esc(text[:half])}<span class="cut">{_esc(cut)}</span>{_esc(text[-half:])}'
    return f'<pre class="{kind}">{body}</pre>' if kind else f"<pre>{body}</pre>"


# -- artifacts and their previews --------------------------------------------------------------


def _artifacts(artifacts: Sequence[ArtifactRecord], empty: str) -> str:
    if not artifacts:
        return _note(empty) if empty else ""
    rows = "".join(
        f"<tr><th>{_esc(a.name)}</th><td><code>{_breakable(a.type_name)}</code></td>"
        f'<td class="num">{_esc(format_size(a.size))}</td><td>{preview_html(a.preview)}</td></tr>'
        for a in artifacts
    )
    head = "<tr><th>artifact</th><th>type</th><th>size</th><th>preview</th></tr>"
    widths = '<col style="width:14%"><col style="width:16%"><col style="width:12%"><col>'
    return (
        f'<table class="grid artifacts">{widths}<thead>{head}</thead><tbody>{rows}</tbody></table>'
    )


def preview_html(preview: object) -> str:
    """A stored preview as escaped HTML: a DataFrame's head as a table, an array's shape,
    dtype and first values, a scalar or a string's head as text. Never raises."""
    try:
        return _preview(preview)
    except Exception as error:  # a preview of a shape this code does not expect
        return _note(f"preview could not be shown ({type(error).__name__})")


def _preview(preview: object) -> str:  # noqa: PLR0911 (one return per kind)
    if not isinstance(preview, Mapping):
        return f"<code>{_text(_str(preview))}</code>"
    problem = _note(_str(preview["error"])) if preview.get("error") else ""
    if isinstance(preview.get("columns"), list) and isinstance(preview.get("head"), list):
        return _frame(preview) + problem
    if isinstance(preview.get("head"), list) and isinstance(preview.get("index"), list):
        return _series(preview) + problem
    if "shape" in preview and isinstance(preview.get("values"), list):
        return _array(preview) + problem
    if "value" in preview:
        return f"<code>{_text(_str(preview.get('repr') or _show(preview['value'])))}</code>"
    if "repr" in preview:
        length = preview.get("length")
        more = f' <span class="dim">length {length:,}</span>' if isinstance(length, int) else ""
        return f"<code>{_text(_str(preview['repr']))}</code>{more}{problem}"
    return problem or _note("no preview")


def _frame(preview: Mapping[str, Any]) -> str:
    shape = _shape(preview.get("shape"))
    columns = [_str(c) for c in preview["columns"][:TABLE_COLUMNS]]
    dtypes = _list(preview.get("dtypes"))
    index = _list(preview.get("index"))
    head_rows = [row for row in preview["head"][:TABLE_ROWS] if isinstance(row, list)]
    header = "".join(f"<th>{_text(c)}</th>" for c in columns)
    types = "".join(f"<td>{_text(_str(t))}</td>" for t in dtypes[: len(columns)])
    body = "".join(
        f"<tr><th>{_text(_show(index[i]) if i < len(index) else '')}</th>"
        + "".join(f"<td>{_text(_show(cell))}</td>" for cell in row[:TABLE_COLUMNS])
        + "</tr>"
        for i, row in enumerate(head_rows)
    )
    table = (
        f'<table class="frame"><thead><tr><th></th>{header}</tr>'
        f'<tr class="dtypes"><td></td>{types}</tr></thead><tbody>{body}</tbody></table>'
    )
    more = _more(preview, head_rows)
    return f'<div class="dim">DataFrame {_esc(shape)}</div><div class="wide">{table}</div>{more}'


def _series(preview: Mapping[str, Any]) -> str:
    index, head = preview["index"][:TABLE_ROWS], preview["head"][:TABLE_ROWS]
    body = "".join(
        f"<tr><th>{_text(_show(label))}</th><td>{_text(_show(cell))}</td></tr>"
        for label, cell in zip(index, head, strict=False)
    )
    name = f" {_show(preview['name'])}" if preview.get("name") is not None else ""
    facts = f"Series{name} {_shape(preview.get('shape'))} {_str(preview.get('dtype'))}"
    return (
        f'<div class="dim">{_text(facts)}</div><table class="frame"><tbody>{body}</tbody></table>'
        f"{_more(preview, head)}"
    )


def _more(preview: Mapping[str, Any], shown: Sequence[Any]) -> str:
    shape = preview.get("shape")
    rows = shape[0] if isinstance(shape, list) and shape and isinstance(shape[0], int) else 0
    return _note(f"\u2026 {rows - len(shown):,} more rows") if rows > len(shown) else ""


def _array(preview: Mapping[str, Any]) -> str:
    shape = preview.get("shape")
    values = preview["values"][:TABLE_ROWS]
    size = math.prod(shape) if isinstance(shape, list) and _all_ints(shape) else len(values)
    shown = ", ".join(_show(value) for value in values)
    rest = ", \u2026" if size > len(values) else ""
    return (
        f'<div class="dim">array {_esc(_shape(shape))} {_text(_str(preview.get("dtype")))}</div>'
        f"<code>{_text(f'[{shown}{rest}]')}</code>"
    )


def _short(preview: object) -> str:
    """One line for a table cell: the value, or what kind of thing it is."""
    if not isinstance(preview, Mapping):
        return _str(preview)
    if "columns" in preview:
        return f"DataFrame {_shape(preview.get('shape'))}"
    if "shape" in preview:
        return f"{_type(_str(preview.get('type')))} {_shape(preview.get('shape'))}"
    text = _str(preview.get("repr") if "repr" in preview else preview.get("value"))
    return text if len(text) <= 60 else text[:59] + "\u2026"


# -- rich outputs ------------------------------------------------------------------------------


def _display(shown: object) -> str:
    """One stored MIME bundle: an image as an <img>, anything else as text. Stored HTML is not
    trusted: its text/plain alternative is shown, or, when that says nothing, its source."""
    data = shown.get("data") if isinstance(shown, Mapping) else None
    if not isinstance(data, Mapping):
        return ""
    metadata = shown.get("metadata") if isinstance(shown, Mapping) else None
    for mime in _IMAGES:
        if mime in data:
            return _image(mime, data[mime], data.get("text/plain"), metadata)
    plain = _joined(data.get("text/plain"))
    if "text/html" in data and (not plain or _GENERIC_REPR.fullmatch(plain.strip())):
        label = "HTML output, shown as its source (stored HTML is not run)"
        return _output(label, _pre(_joined(data["text/html"])))
    for mime in _TEXTS:
        if mime in data:
            return _output(mime, _pre(_joined(data[mime])))
    return _output("output", _note("kinds not shown: " + ", ".join(map(str, data))))


def _image(mime: str, value: object, alt: object, metadata: object) -> str:
    encoded = _joined(value)
    if mime == "image/svg+xml":  # drawn as an image, so a script inside it cannot run
        encoded = base64.b64encode(encoded.encode("utf-8", "replace")).decode("ascii")
    encoded = "".join(encoded.split())
    if len(encoded) > IMAGE_LIMIT:
        return _output(mime, _note(f"image of {format_size(len(encoded) * 3 // 4)} left out"))
    if not _BASE64.fullmatch(encoded):
        return _output(mime, _note("image data is not base64; left out"))
    width = ""
    sizes = metadata.get(mime) if isinstance(metadata, Mapping) else None
    if isinstance(sizes, Mapping) and isinstance(sizes.get("width"), int | float):
        width = f' width="{int(sizes["width"])}"'
    return _output(
        mime,
        f'<img src="data:{mime};base64,{encoded}" alt="{_esc(_joined(alt) or mime)}"{width}>',
    )


def _output(label: str, content: str) -> str:
    return f'<div class="output"><div class="label">{_esc(label)}</div>{content}</div>'


def _joined(value: object) -> str:
    # Notebook files may hold a text output as a list of lines.
    if isinstance(value, list):
        return "".join(_str(part) for part in value)
    return _str(value)


# -- small things ------------------------------------------------------------------------------


def _esc(text: str) -> str:
    return html.escape(_NOT_TEXT.sub("\ufffd", text), quote=True)


def _text(text: str, limit: int = PREVIEW_LIMIT) -> str:
    """Escaped, and cut to `limit` characters with a note saying how much was left out."""
    if len(text) <= limit:
        return _esc(text)
    cut = f"\u2026 {len(text) - limit:,} more characters"
    return f'{_esc(text[:limit])}<span class="cut">{cut}</span>'


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _badge(status: str) -> str:
    style = STATUS_STYLES.get(status)
    glyph = style.glyph if style else "?"
    return f'<span class="badge s-{_css_name(status)}">{_esc(glyph)} {_esc(status)}</span>'


def _css_name(status: str) -> str:
    return status if status in STATUS_STYLES else "unknown"


def _literal(value: object) -> str:
    """A parameter or result as Python writes it: strings quoted, so '1' and 1 differ."""
    return repr(value) if isinstance(value, str) else _show(value)


def _show(value: object) -> str:
    if isinstance(value, float):
        exact = repr(value)
        return exact if len(exact) <= 12 else f"{value:.6g}"
    if isinstance(value, str):
        return value
    return repr(value) if value is None or isinstance(value, bool | int) else _str(value)


def _str(value: object) -> str:
    if value is None:
        return ""
    try:
        return str(value)
    except Exception:  # a stored value is plain data, but be safe
        return "?"


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _all_ints(values: list[Any]) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _shape(shape: object) -> str:
    if isinstance(shape, list) and _all_ints(shape):
        return " \u00d7 ".join(str(n) for n in shape) if shape else "scalar"
    return ""


def _type(name: str) -> str:
    return name.removeprefix("builtins.")


def _breakable(type_name: str) -> str:
    """A dotted type name that wraps at its dots in a narrow column."""
    return _esc(_type(type_name)).replace(".", ".<wbr>")


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(timestamp).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _css() -> str:
    badges = "".join(
        f".s-{name}{{background:{s.fill};color:{s.ink};border-color:{s.stroke}}}"
        for name, s in STATUS_STYLES.items()
    )
    return _CSS + badges


_CSS = """
:root{color-scheme:light}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;
 color:#1f2328;background:#fff;margin:0 auto;padding:24px 32px 48px;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 10px;padding-bottom:4px;
 border-bottom:1px solid #d0d7de}h3{font-size:15px;margin:0 0 2px}
section{margin:26px 0}article.step{margin:18px 0;padding:12px 14px;border:1px solid #d0d7de;
 border-radius:8px}
.facts{color:#57606a;margin:2px 0 8px}.note{color:#57606a;font-style:italic;margin:4px 0}
.dim{color:#57606a;font-size:12px}.cut{color:#a04600;font-style:italic}
.badge{display:inline-block;font-size:12px;font-weight:500;padding:0 7px;border:1px solid #8c8c8c;
 border-radius:10px;background:#f5f5f5;color:#4d4d4d;vertical-align:2px;white-space:nowrap}
.figure{overflow-x:auto;margin:4px 0}.figure svg{max-width:none;display:block}
table{border-collapse:collapse;margin:6px 0}
th,td{text-align:left;vertical-align:top;padding:3px 10px 3px 0}
table.grid th,table.grid td{border-bottom:1px solid #eaeef2;padding:4px 12px 4px 6px}
table.grid thead th{border-bottom:1px solid #d0d7de;font-weight:600;color:#57606a}
table.values th{font-weight:600;padding-right:20px}
table.frame{font-size:12px;border:1px solid #d0d7de}
table.frame th,table.frame td{padding:2px 8px;border:1px solid #eaeef2;white-space:nowrap;
 overflow-wrap:normal}
table.frame .dtypes td{color:#57606a;font-style:italic}
td.num{text-align:right;white-space:nowrap}
table.artifacts{width:100%;table-layout:fixed}
table.artifacts th,table.artifacts td{overflow-wrap:anywhere}
.wide{overflow-x:auto;max-width:100%}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code{white-space:pre-wrap;word-break:break-word}
pre{background:#f6f8fa;border:1px solid #eaeef2;border-radius:6px;padding:8px 10px;margin:4px 0;
 max-height:420px;overflow:auto;white-space:pre-wrap;word-break:break-word}
.error{border-left:4px solid #d55e00;background:#fbe1d3;padding:6px 10px;margin:8px 0;
 border-radius:4px}.error p{margin:0 0 4px;color:#a04600}.error pre{background:#fff8f4}
.label{font-size:12px;font-weight:600;color:#57606a;margin-top:8px}
.output img{max-width:100%;height:auto;border:1px solid #eaeef2;margin-top:4px}
details{margin:6px 0}summary{cursor:pointer;color:#57606a}
details.element{border:1px solid #eaeef2;border-radius:6px;padding:4px 10px}
details.element>summary{color:#1f2328}
.task{margin:4px 0}.err{color:#a04600}
footer{margin-top:40px;color:#8c959f;font-size:12px}
.s-unknown{background:#f5f5f5;color:#4d4d4d;border-color:#8c8c8c}
"""
