"""The SVG pictures, read back with an XML parser: what a browser would draw, without one."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from nbflow.render.layout import layout
from nbflow.render.svg import STATUS_STYLES, render_svg, render_timeline_svg
from nbflow.render.text import format_duration

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(1)</script>"
STATUSES = ("pending", "running", "done", "failed", "skipped", "cached", "not_run")


def step(
    name: str,
    *parents: str,
    status: str = "done",
    duration: float | None = 1.0,
    foreach: str | None = None,
    **tasks: int,
) -> dict[str, Any]:
    counts = {"total": 1, "done": 1 if status == "done" else 0, "failed": 0, "running": 0,
              "skipped": 0, "cached": 0}  # fmt: skip
    counts.update(tasks)
    return {"name": name, "parents": list(parents), "foreach": foreach, "join": False,
            "status": status, "duration": duration, "tasks": counts}  # fmt: skip


def view(*steps: dict[str, Any], run_id: str = "run-1", status: str = "done") -> dict[str, Any]:
    return {"id": run_id, "status": status, "steps": list(steps)}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def groups(root: ET.Element, kind: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{NS}g") if g.get("class") == kind]


def box_of(root: ET.Element, name: str) -> ET.Element:
    [found] = [g for g in groups(root, "nbflow-step") if g.get("data-step") == name]
    return found


def texts(element: ET.Element) -> list[str]:
    return ["".join(text.itertext()) for text in element.iter(f"{NS}text")]


def rect(element: ET.Element, kind: str) -> ET.Element:
    [found] = [r for r in element.iter(f"{NS}rect") if r.get("class") == kind]
    return found


FLOW = view(
    step("start", duration=0.42),
    step("train", "start", foreach="models", status="running", total=10, done=7, running=3),
    step("report", "start", status="failed", duration=182),
    step("end", "train", "report", status="pending", duration=None),
)


# -- the graph ---------------------------------------------------------------------------------


def test_the_graph_is_well_formed_xml_with_a_viewbox_sized_to_the_layout() -> None:
    drawing = layout(FLOW["steps"])
    root = parse(render_svg(FLOW))
    x, y, width, height = (float(v) for v in root.get("viewBox", "").split())
    assert (x, y) == (0, 0)
    assert drawing.width < width < drawing.width + 80
    assert drawing.height < height < drawing.height + 100
    assert (float(root.get("width", 0)), float(root.get("height", 0))) == (width, height)


def test_a_given_layout_is_the_one_drawn() -> None:
    wide = layout(FLOW["steps"], box_width=400)
    root = parse(render_svg(FLOW, wide))
    assert float(root.get("viewBox", "").split()[2]) > wide.width
    box = rect(box_of(root, "start"), "nbflow-box")
    assert box.get("width") == "400"


def test_one_box_group_per_step_with_its_name_as_text() -> None:
    root = parse(render_svg(FLOW))
    boxes = groups(root, "nbflow-step")
    assert [g.get("data-step") for g in boxes] == ["start", "train", "report", "end"]
    for g in boxes:
        assert texts(g)[0] == g.get("data-step")
        assert len([r for r in g.iter(f"{NS}rect") if r.get("class") == "nbflow-box"]) == 1


def test_each_status_has_its_own_fill_glyph_and_word() -> None:
    root = parse(render_svg(view(*(step(status, status=status) for status in STATUSES))))
    fills, outlines, labels = {}, {}, {}
    for status in STATUSES:
        g = box_of(root, status)
        assert g.get("data-status") == status
        box = rect(g, "nbflow-box")
        fills[status] = box.get("fill")
        outlines[status] = (box.get("stroke"), box.get("stroke-dasharray"), box.get("stroke-width"))
        labels[status] = texts(g)[1]
    assert len(set(fills.values())) == len(STATUSES)
    assert len(set(outlines.values())) == len(STATUSES)
    # Without colour: a different glyph and the word itself.
    assert len({label.split()[0] for label in labels.values()}) == len(STATUSES)
    assert all(label.endswith(status.replace("_", " ")) for status, label in labels.items())


def test_a_step_that_did_not_run_reads_not_run_and_an_incomplete_run_says_so() -> None:
    drawn = view(step("start"), step("end", "start", status="not_run", duration=None))
    root = parse(render_svg({**drawn, "status": "incomplete"}))
    assert texts(box_of(root, "end"))[1] == "– not run"
    header = texts(root)[0]
    assert header.endswith("◐ incomplete")
    assert STATUS_STYLES["incomplete"] != STATUS_STYLES["done"]


def test_an_unknown_status_is_drawn_as_given_in_a_neutral_style() -> None:
    root = parse(render_svg(view(step("s", status="exploded"))))
    g = box_of(root, "s")
    assert texts(g)[1] == "? exploded"
    assert rect(g, "nbflow-box").get("fill") not in {s.fill for s in STATUS_STYLES.values()}


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.42, "0.42 s"),
        (0.0, "<1 ms"),
        (0.0032, "3 ms"),
        (0.0994, "99 ms"),
        (0.1, "0.10 s"),
        (9.994, "9.99 s"),
        (12.46, "12.5 s"),
        (59.96, "1 min"),
        (182, "3 min 2 s"),
        (180, "3 min"),
        (7384, "2 h 3 min"),
        (7200, "2 h"),
        (None, ""),
        (float("nan"), ""),
        (-1.0, ""),
    ],
)
def test_durations_read_naturally(seconds: float | None, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_a_box_shows_its_duration() -> None:
    root = parse(render_svg(FLOW))
    assert "0.42 s" in texts(box_of(root, "start"))
    assert "3 min 2 s" in texts(box_of(root, "report"))
    assert len(texts(box_of(root, "end"))) == 2  # no duration yet: name and status only


def test_a_foreach_shows_done_out_of_total_a_progress_bar_and_a_fan() -> None:
    root = parse(render_svg(FLOW))
    train = box_of(root, "train")
    assert "7/10" in texts(train)
    progress = [r for r in train.iter(f"{NS}rect") if r.get("class") == "nbflow-progress"]
    done, running = (float(r.get("width", 0)) for r in progress)
    assert done / running == pytest.approx(7 / 3)
    assert len([r for r in train.iter(f"{NS}rect") if r.get("class") == "nbflow-fan"]) == 2


def test_a_step_with_one_task_has_no_count_no_bar_and_no_fan() -> None:
    start = box_of(parse(render_svg(FLOW)), "start")
    assert not any("/" in text for text in texts(start))
    assert [r.get("class") for r in start.iter(f"{NS}rect")] == ["nbflow-box"]


def test_a_step_inside_a_foreach_body_is_a_fan_from_its_task_count() -> None:
    body = step("g", foreach=None, total=4, done=1, cached=2)
    g = box_of(parse(render_svg(view(body))), "g")
    assert "3/4" in texts(g)  # cached tasks are finished too
    assert len([r for r in g.iter(f"{NS}rect") if r.get("class") == "nbflow-fan"]) == 2


def test_a_foreach_not_yet_split_shows_an_unknown_total() -> None:
    pending = step("f", foreach="xs", status="pending", duration=None, total=0)
    assert "0/?" in texts(box_of(parse(render_svg(view(pending))), "f"))


def test_the_hover_text_tells_status_and_task_counts() -> None:
    train = box_of(parse(render_svg(FLOW)), "train")
    title = train.findtext(f"{NS}title") or ""
    assert title.splitlines()[:2] == ["train", "status: running"]
    assert "foreach over models" in title
    assert "tasks: 10 (7 done, 0 failed, 3 running, 0 skipped, 0 cached)" in title
    assert "environment" not in title


def test_the_hover_text_names_a_steps_own_environment() -> None:
    steps = [{**step, "env": ["pandas==2.2.3"]} if step["name"] == "report" else step
             for step in FLOW["steps"]]  # fmt: skip
    report = box_of(parse(render_svg({**FLOW, "steps": steps})), "report")
    assert "environment: pandas==2.2.3" in (report.findtext(f"{NS}title") or "")


def test_edges_are_paths_with_arrowheads_between_the_right_boxes() -> None:
    root = parse(render_svg(FLOW))
    edges = groups(root, "nbflow-edge")
    assert [(g.get("data-source"), g.get("data-target")) for g in edges] == [
        ("start", "train"),
        ("start", "report"),
        ("train", "end"),
        ("report", "end"),
    ]
    for g in edges:
        assert g.find(f"{NS}path") is not None
        assert g.find(f"{NS}polygon") is not None


def test_step_names_and_run_ids_are_text_never_markup() -> None:
    hostile = view(step(HOSTILE), step('x" onload="alert(1)', HOSTILE), run_id=HOSTILE)
    svg = render_svg(hostile)
    root = parse(svg)
    assert not [e for e in root.iter() if e.tag.rsplit("}", 1)[-1].lower() == "script"]
    assert not [e for e in root.iter() if "onload" in e.attrib]
    assert HOSTILE in "".join(root.itertext())
    assert texts(box_of(root, HOSTILE))[0].startswith("<script>")
    assert f"run {HOSTILE}" in texts(root)[0]
    assert "<script>" not in svg


def test_characters_xml_cannot_carry_do_not_break_the_picture() -> None:
    root = parse(render_svg(view(step("a\x00b\x1bc\ud800"), run_id="r\x07")))
    assert texts(groups(root, "nbflow-step")[0])[0] == "a\ufffdb\ufffdc\ufffd"


def test_a_long_name_is_cut_to_fit_and_kept_whole_in_the_hover_text() -> None:
    name = "a_really_long_step_name_that_goes_on_and_on"
    g = box_of(parse(render_svg(view(step(name)))), name)
    assert texts(g)[0].endswith("…")
    assert len(texts(g)[0]) < len(name)
    assert (g.findtext(f"{NS}title") or "").startswith(name)


def test_a_long_run_id_widens_a_narrow_graph_rather_than_being_cut() -> None:
    run_id = "3f2b6c1e-9d4a-4e7b-8c55-0a1d2e3f4b5c"
    narrow = parse(render_svg(view(step("only"))))
    root = parse(render_svg(view(step("only"), run_id=run_id)))
    assert texts(root)[0].startswith(f"run {run_id}")
    assert float(root.get("width", 0)) > float(narrow.get("width", 0))
    assert float(root.get("width", 0)) >= len(f"run {run_id} ✓ done") * 7


def test_a_malformed_view_still_draws() -> None:
    root = parse(
        render_svg(
            {
                "id": None,
                "steps": [
                    {"name": "a"},
                    {"name": "b", "parents": ["a"], "tasks": None, "duration": "slow"},
                    {"name": "c", "parents": "b", "status": None, "tasks": {"total": "many"}},
                    {"name": 4, "foreach": "xs", "tasks": {"total": 3, "done": True}},
                    "not a step",
                ],
            }
        )
    )
    assert [g.get("data-step") for g in groups(root, "nbflow-step")] == ["a", "b", "c", "4"]
    assert texts(box_of(root, "4"))[-1] == "0/3"
    assert len(groups(root, "nbflow-edge")) == 2


def test_nothing_is_fetched_from_outside() -> None:
    svg = render_svg(FLOW) + render_timeline_svg([TIMELINE_RUN])
    for picture in (render_svg(FLOW), render_timeline_svg([TIMELINE_RUN])):
        for element in parse(picture).iter():
            local = element.tag.rsplit("}", 1)[-1]
            assert local not in {"image", "use", "script", "style", "foreignObject", "a"}
            assert not [key for key in element.attrib if "href" in key]
    assert "url(" not in svg
    assert "@import" not in svg
    assert svg.count("http") == 2  # the SVG namespace of each picture, nothing else


def test_no_steps_draws_an_empty_graph() -> None:
    root = parse(render_svg(view()))
    assert groups(root, "nbflow-step") == []


# -- the timeline ------------------------------------------------------------------------------

TIMELINE_RUN = {
    "id": "r1",
    "started_at": 100.0,
    "steps": [
        {"name": "start", "started_at": 100.0, "finished_at": 102.0, "status": "done"},
        {"name": "train", "started_at": 102.0, "finished_at": 110.0, "status": "done"},
        {"name": "end", "started_at": None, "finished_at": None, "status": "pending"},
    ],
}


def bars(root: ET.Element) -> dict[tuple[str | None, str | None], tuple[float, float]]:
    found = {}
    for run in groups(root, "nbflow-run"):
        for bar in run.iter(f"{NS}rect"):
            if bar.get("class") == "nbflow-bar":
                key = (run.get("data-run"), bar.get("data-step"))
                found[key] = (float(bar.get("x", 0)), float(bar.get("width", 0)))
    return found


def test_timeline_bars_are_proportional_to_durations_on_one_shared_axis() -> None:
    other = {
        "id": "r2",
        "started_at": "2024-05-01T10:00:00Z",
        "steps": [
            {"name": "start", "started_at": "2024-05-01T10:00:00Z",
             "finished_at": "2024-05-01T10:00:06Z", "status": "done"},
            {"name": "train", "started_at": "2024-05-01T10:00:06+00:00",
             "finished_at": "2024-05-01T10:00:09+00:00", "status": "failed"},
        ],
    }  # fmt: skip
    found = bars(parse(render_timeline_svg([TIMELINE_RUN, other])))
    assert set(found) == {("r1", "start"), ("r1", "train"), ("r2", "start"), ("r2", "train")}
    unit = found[("r1", "start")][1] / 2.0  # pixels per second
    assert unit > 0
    assert found[("r1", "train")][1] == pytest.approx(8 * unit, abs=0.02)
    assert found[("r2", "start")][1] == pytest.approx(6 * unit, abs=0.02)
    assert found[("r2", "train")][1] == pytest.approx(3 * unit, abs=0.02)
    # Each run starts at zero on the same axis; a step starts where its run's clock says.
    origin = found[("r1", "start")][0]
    assert found[("r2", "start")][0] == origin
    assert found[("r1", "train")][0] == pytest.approx(origin + 2 * unit, abs=0.02)
    assert found[("r2", "train")][0] == pytest.approx(origin + 6 * unit, abs=0.02)


def test_timeline_axis_ticks_are_in_seconds_and_cover_the_longest_run() -> None:
    root = parse(render_timeline_svg([TIMELINE_RUN]))
    ticks = [t.text or "" for t in root.iter(f"{NS}text") if t.get("class") == "nbflow-tick"]
    assert ticks[0] == "0 s"
    assert all(tick.endswith(" s") for tick in ticks)
    seconds = [float(tick[:-2]) for tick in ticks]
    assert seconds == sorted(seconds)
    assert seconds[-1] >= 10 > seconds[-2]
    assert 3 <= len(ticks) <= 9


def test_a_step_not_started_has_a_row_but_no_bar() -> None:
    root = parse(render_timeline_svg([TIMELINE_RUN]))
    assert ("r1", "end") not in bars(root)
    assert "end" in texts(root)
    assert "○ pending" in texts(root)


def test_a_running_step_reaches_the_latest_moment_the_run_knows() -> None:
    run = {
        "id": "r",
        "started_at": 0,
        "steps": [
            {"name": "a", "started_at": 0, "finished_at": 4, "status": "done"},
            {"name": "b", "started_at": 1, "finished_at": None, "status": "running"},
        ],
    }
    found = bars(parse(render_timeline_svg([run])))
    assert found[("r", "b")][1] == pytest.approx(found[("r", "a")][1] * 3 / 4, abs=0.02)


def test_a_run_without_a_start_time_starts_at_its_first_step() -> None:
    steps = [
        {"name": "a", "started_at": 50, "finished_at": 52, "status": "done"},
        {"name": "b", "started_at": 52, "finished_at": 56, "status": "done"},
    ]
    root = parse(render_timeline_svg([{"id": "r", "steps": steps}]))
    found = bars(root)
    (a_x, a_width), (b_x, _width) = found[("r", "a")], found[("r", "b")]
    assert b_x == pytest.approx(a_x + a_width, abs=0.02)
    [zero] = [
        t for t in root.iter(f"{NS}text") if t.get("class") == "nbflow-tick" and t.text == "0 s"
    ]
    assert a_x == float(zero.get("x", -1))


def test_timeline_names_are_text_never_markup() -> None:
    bar = {"name": HOSTILE, "started_at": 0, "finished_at": 1, "status": HOSTILE}
    root = parse(render_timeline_svg([{"id": HOSTILE, "started_at": 0, "steps": [bar]}]))
    assert not [e for e in root.iter() if e.tag.rsplit("}", 1)[-1].lower() == "script"]
    assert f"run {HOSTILE}" in texts(root)
    assert any(text.startswith("<script>alert") for text in texts(root))
    [row] = groups(root, "nbflow-row")
    assert (row.findtext(f"{NS}title") or "").startswith(f"{HOSTILE}: {HOSTILE}, 1.00 s")


def test_a_timeline_of_no_runs_says_so() -> None:
    assert "no runs" in texts(parse(render_timeline_svg([])))


def test_a_sub_millisecond_step_still_makes_well_formed_pictures() -> None:
    # "<1 ms" is text, not markup: the graph and the timeline must both stay valid XML.
    view = {"id": "f/1", "status": "done", "steps": [
        {"name": "quick", "parents": [], "status": "done", "duration": 0.0001,
         "tasks": {"total": 1, "done": 1}},
    ]}  # fmt: skip
    assert any("<1 ms" in text for text in texts(parse(render_svg(view))))
    timeline = render_timeline_svg(
        [{"id": "f/1", "started_at": 0.0,
          "steps": [{"name": "quick", "started_at": 0.0, "finished_at": 0.0001, "status": "done"}]}]
    )  # fmt: skip
    ET.fromstring(timeline)
