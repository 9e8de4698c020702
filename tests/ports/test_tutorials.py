"""Metaflow's tutorials 00-04, ported cell by cell (notebooks/make_notebooks.py), run headless.

Every notebook runs through `nbflow run` in a fresh kernel; its run is read back with the
public client, and every result is compared with what the flow's code means, computed here
straight from the tutorial's movies.csv with pandas: never a number written down by hand.

Where the port meets nbflow's contract rather than Metaflow's (API.md: `with ... as` targets
are not artifacts; a step that binds a parameter's name fails, naming it; a value that cannot
be stored fails naming the fix), the test states the contract, and the answers are checked on
the smallest change that follows it.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from porttools import DATA, Done, Ports

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("kernel_name")]

PLAYLIST_CSV = DATA / "01-playlist" / "movies.csv"
STATS_CSV = DATA / "02-statistics" / "movies.csv"


# -- what the flows' code means, from the data ----------------------------------------------------


def movies(path: Path) -> pd.DataFrame:
    """The CSV as `csv.DictReader` reads it: every field a string, nothing taken for missing."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def expected_stats(path: Path) -> dict[str, dict[str, Any]]:
    """MovieStatsFlow's `genre_stats`: per genre (lower case), the movies whose `genres` field
    contains the genre's name (a substring test, as the flow's `genre in row`), stably sorted
    by gross, without title_year, and the gross at index round(n * cut) for each quartile."""
    df = movies(path)
    df["gross"] = df["gross"].astype(int)
    names = {g for field in df["genres"] for g in field.split("|")}
    stats = {}
    for name in names:
        rows = df[df["genres"].str.contains(name, regex=False)]
        rows = rows.sort_values("gross", kind="stable")
        n = len(rows)
        gross = [int(g) for g in rows["gross"]]
        stats[name.lower()] = {
            "quartiles": [gross[0 if n < 2 else round(n * cut)] for cut in (0.25, 0.5, 0.75)],
            "dataframe": {
                "movie_title": list(rows["movie_title"]),
                "genres": list(rows["genres"]),
                "gross": gross,
            },
        }
    return stats


def top_quartile(stats: dict[str, dict[str, Any]], genre: str) -> Counter[str]:
    """The redux playlist: the genre's titles grossing at least its third quartile."""
    if genre.lower() not in stats:
        return Counter()
    data = stats[genre.lower()]
    frame = pd.DataFrame(data["dataframe"])
    return Counter(frame.loc[frame["gross"] >= data["quartiles"][-1], "movie_title"])


def levenshtein(a: str, b: str) -> int:
    rows = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            rows[i][j] = min(
                rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] != b[j - 1])
            )
    return rows[-1][-1]


def playlist_lines(genre: str, playlist: list[str], recommendations: int, bonus: Any) -> str:
    """What the flows' `end` prints."""
    lines = [f"Playlist for movies in genre '{genre}'"]
    lines += [f"Pick {k}: '{m}'" for k, m in enumerate(playlist[:recommendations], start=1)]
    lines.append(f"Bonus Pick: '{bonus[0]}' from '{bonus[1]}'")
    return "\n".join(lines) + "\n"


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Ports:
    return Ports(tmp_path_factory.mktemp("ports"))


@pytest.fixture(autouse=True)
def client(ports: Ports, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The in-process client reads the module's datastore, whatever the caller's settings."""
    for key in [k for k in os.environ if k.startswith("NBFLOW_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("NBFLOW_DATASTORE", str(ports.store))
    yield


@pytest.fixture(scope="module")
def stats_run(ports: Ports) -> Done:
    """A successful MovieStatsFlow run, for the flows that read it (03, 04)."""
    return ports.ok("02_statistics")


def the_run(done: Done) -> Any:
    from nbflow import Run

    assert done.run_id is not None, done.output
    return Run(done.run_id)


def statuses(run: Any) -> dict[str, list[str]]:
    return {s.name: [t.status for t in s.tasks()] for s in run.steps()}


def assert_all_ran(run: Any) -> None:
    """`nbflow run` runs every task fresh (API.md: unless --reuse): none is `cached`."""
    assert run.status == "done", statuses(run)
    every = statuses(run)
    assert all(s == "done" for tasks in every.values() for s in tasks), every


# -- 00-helloworld --------------------------------------------------------------------------------


def test_helloworld(ports: Ports) -> None:
    done = ports.ok("00_helloworld")
    run = the_run(done)
    assert done.run_id is not None and done.run_id.startswith("HelloFlow/")
    assert list(statuses(run)) == ["start", "hello", "end"]
    assert_all_ran(run)
    assert run["start"].task.stdout == "HelloFlow is starting.\n"
    assert run["hello"].task.stdout == "Metaflow says: Hi!\n"
    assert run["end"].task.stdout == "HelloFlow is all done.\n"


# -- 01-playlist ----------------------------------------------------------------------------------


def check_playlist(run: Any, genre: str, recommendations: int) -> None:
    df = movies(PLAYLIST_CSV)
    in_genre = df["genres"].str.lower().str.contains(genre.lower(), regex=False)
    assert run.params["genre"] == genre
    assert run.params["recommendations"] == recommendations
    assert run["start"].task.data.dataframe == {
        "movie_title": list(df["movie_title"]),
        "genres": list(df["genres"]),
    }
    playlist = run.data.playlist
    assert Counter(playlist) == Counter(df.loc[in_genre, "movie_title"])  # shuffled: a multiset
    assert playlist == run["genre_movies"].task.data.movies
    bonus = run.data.bonus
    assert isinstance(bonus, tuple)
    others = set(zip(df.loc[~in_genre, "movie_title"], df.loc[~in_genre, "genres"], strict=True))
    assert bonus in others
    assert bonus == run["bonus_movie"].task.data.bonus
    assert run["end"].task.stdout == playlist_lines(genre, playlist, recommendations, bonus)


def test_playlist_as_ported(ports: Ports) -> None:
    """`with open(path) as f:` in place of IncludeFile: `f` is a handle, not an artifact."""
    done = ports.run("01_playlist")
    assert done.returncode == 0, f"the faithful port failed:\n{done.output}"
    run = the_run(done)
    assert_all_ran(run)
    check_playlist(run, "Sci-Fi", 5)


def test_playlist_answers(ports: Ports) -> None:
    run = the_run(ports.ok("01_playlist"))
    assert_all_ran(run)
    check_playlist(run, "Sci-Fi", 5)
    assert run["start"].task.data.movie_data == PLAYLIST_CSV.read_text()
    # Overrides from the command line win over the %%params defaults.
    other = the_run(ports.ok("01_playlist", "-p", "genre", "Comedy",
                             "-p", "recommendations", "3"))  # fmt: skip
    assert_all_ran(other)
    check_playlist(other, "Comedy", 3)


# -- 02-statistics --------------------------------------------------------------------------------


def check_stats(run: Any) -> None:
    expected = expected_stats(STATS_CSV)
    start = run["start"].task.data
    # The start step's dataframe is the whole file, as it was: the foreach tasks changed their
    # own copies of it in place (and stored them), never the parent's value.
    full = movies(STATS_CSV)
    assert start.dataframe == {
        "movie_title": list(full["movie_title"]),
        "title_year": [int(y) for y in full["title_year"]],
        "genres": list(full["genres"]),
        "gross": [int(g) for g in full["gross"]],
    }
    genres = start.genres
    assert isinstance(genres, list)
    assert sorted(g.lower() for g in genres) == sorted(expected)
    tasks = run["compute_statistics"].tasks()
    assert [t.item for t in tasks] == genres  # one task per element, in element order
    for task in tasks:
        name = task.item.lower()
        assert task.data.genre == task.item
        assert task.data.quartiles == expected[name]["quartiles"], task.item
        # Metaflow stores the task's changed `self.dataframe`: the genre's rows only.
        assert task.data.dataframe == expected[name]["dataframe"], task.item
        assert task.stdout == f"Computing statistics for {task.item}\n"
    stats = run["join"].task.data.genre_stats
    assert list(stats) == [g.lower() for g in genres]  # join inputs in element order
    assert stats == expected
    assert run.data.genre_stats == expected


def test_statistics_as_ported(ports: Ports) -> None:
    done = ports.run("02_statistics")
    assert done.returncode == 0, f"the faithful port failed:\n{done.output}"
    run = the_run(done)
    assert_all_ran(run)
    check_stats(run)


def test_statistics_answers(stats_run: Done) -> None:
    run = the_run(stats_run)
    assert_all_ran(run)
    check_stats(run)


# -- 03-playlist-redux ----------------------------------------------------------------------------


def check_redux(run: Any, stats_run: Done, genre: str = "Sci-Fi") -> None:
    expected = expected_stats(STATS_CSV)
    assert f"Using analysis from '{the_run(stats_run)}'" in run["start"].task.stdout
    assert run["start"].task.data.genre_stats == expected
    playlist = run.data.playlist
    assert Counter(playlist) == top_quartile(expected, genre)
    bonus = run.data.bonus
    assert isinstance(bonus, tuple)
    others = {
        (title, field)
        for name, data in expected.items()
        if name != genre.lower()
        for title, field in zip(
            data["dataframe"]["movie_title"], data["dataframe"]["genres"], strict=True
        )
        if genre.lower() not in field.lower()
    }
    assert bonus in others
    assert run["end"].task.stdout == playlist_lines(genre, playlist, 5, bonus)


def parameter_refusal(done: Done, name: str) -> bool:
    """The run failed with an error line naming `name` as a parameter (API.md: read-only)."""
    return done.returncode != 0 and any(
        re.search(rf"\b{name}\b", line) and "parameter" in line.lower()
        for line in done.output.splitlines()
    )


def test_redux_as_ported_refuses_to_rebind_the_genre_parameter(
    ports: Ports, stats_run: Done
) -> None:
    """Metaflow's `genre = self.genre.lower()` and `for genre, data in ...` bind `genre`, the
    parameter's name, once `self.` is gone: the step fails, naming it, instead of running
    with `genre` shadowed."""
    done = ports.run("03_playlist_redux")
    assert parameter_refusal(done, "genre"), (
        f"expected a refusal naming the parameter 'genre'; got rc={done.returncode}:\n{done.output}"
    )


def test_redux_without_transient_run_says_how_to_fix_it(ports: Ports, stats_run: Done) -> None:
    """A method's local `run` (a client Run) becomes an artifact in a cell; it cannot be
    stored, and the error names it and the fix."""
    name = ports.variant(
        "03_playlist_redux_fixed", "03_redux_no_transient", {"start --transient run": "start"}
    )
    done = ports.run(name)
    assert done.returncode != 0
    assert "run: nbflow.query.client.Run" in done.output, done.output
    assert "--transient run" in done.output, done.output


def test_redux_fixed(ports: Ports, stats_run: Done) -> None:
    run = the_run(ports.ok("03_playlist_redux_fixed"))
    assert_all_ran(run)
    check_redux(run, stats_run)


# -- 04-playlist-plus -----------------------------------------------------------------------------


def check_plus(run: Any, stats_run: Done, hint: str = "Metaflow Release") -> None:
    full = movies(STATS_CSV)
    titles = list(full["movie_title"])
    distances = [levenshtein(hint, t) for t in titles]
    index = distances.index(min(distances))
    assert f"Using analysis from '{the_run(stats_run)}'" in run["start"].task.stdout
    # The MovieStatsFlow start task's dataframe: the whole file, all four columns.
    assert run["start"].task.data.dataframe == the_run(stats_run)["start"].task.data.dataframe
    assert run["start"].task.data.dataframe["movie_title"] == titles
    assert run["bonus_movie"].task.data.distance == distances
    assert run.data.bonus == (titles[index], full["genres"][index])
    expected = expected_stats(STATS_CSV)
    assert Counter(run.data.playlist) == top_quartile(expected, "Sci-Fi")
    assert run["end"].task.stdout == playlist_lines("Sci-Fi", run.data.playlist, 5, run.data.bonus)


def test_plus_as_ported_refuses_to_rebind_the_genre_parameter(
    ports: Ports, stats_run: Done
) -> None:
    done = ports.run("04_playlist_plus")
    if done.returncode == 0:
        run = the_run(done)
        seen = {s.name: s.task.data.genre for s in run.steps() if "genre" in s.task.artifacts}
        pytest.fail(
            f"{done.run_id} succeeded although step genre_movies binds the parameter 'genre' "
            f"(`genre = genre.lower()`); the steps then saw genre = {seen} and `end` printed:\n"
            f"{run['end'].task.stdout}(Metaflow's end prints genre 'Sci-Fi'.)"
        )
    assert parameter_refusal(done, "genre"), done.output


def test_plus_fixed(ports: Ports, stats_run: Done) -> None:
    run = the_run(ports.ok("04_playlist_plus_fixed"))
    assert_all_ran(run)
    check_plus(run, stats_run)
    assert run.data.bonus == ("Metaflow the Release", "Documentary")  # the row 02 adds, by hint


# -- a flow that reads another flow's latest run --------------------------------------------------


def test_redux_reads_the_latest_statistics_not_a_cached_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """03's start reads MovieStatsFlow's latest successful run. After a new statistics run on
    other data, a new `nbflow run` of 03 must see the new statistics (it runs every task fresh
    unless --reuse), not a start task reused from the run before."""
    ports = Ports(tmp_path)
    monkeypatch.setenv("NBFLOW_DATASTORE", str(ports.store))
    ports.ok("02_statistics")
    first = the_run(ports.ok("03_playlist_redux_fixed"))
    assert first["start"].task.data.genre_stats == expected_stats(STATS_CSV)
    other = "../data/01-playlist/movies.csv"  # without 02's extra documentary
    assert expected_stats(PLAYLIST_CSV) != expected_stats(STATS_CSV)
    ports.ok("02_statistics", "-p", "movie_data_path", other)
    second = the_run(ports.ok("03_playlist_redux_fixed"))
    start = second["start"].task
    assert start.status == "done", f"start is {start.status} (origin {start.origin})"
    assert start.data.genre_stats == expected_stats(PLAYLIST_CSV)
