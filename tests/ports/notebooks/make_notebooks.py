"""Write the notebooks that port Metaflow's tutorials (metaflow/tutorials/00-04) to nbflow.

    .venv/bin/python tests/ports/notebooks/make_notebooks.py          # rewrite the .ipynb files
    .venv/bin/python tests/ports/notebooks/make_notebooks.py --check  # exit 1 if one is stale

The port is mechanical, cell by cell, from Netflix/metaflow (Apache-2.0):

- each `@step` method becomes a `%%step NAME --after PARENT ...` cell, its body unchanged
  except `self.x` -> `x` (so a method's locals become the step's artifacts, as top-level names
  of a cell do);
- `Parameter('genre', default='Sci-Fi')` -> a `%%params` cell `genre = 'Sci-Fi'`;
- `self.next(self.a, self.b)` -> `--after` on the children; `foreach='x'` -> `--foreach x`,
  `self.input` -> `item`; a join over a foreach -> `--join`, a static join -> `--after a b`;
- `IncludeFile('movie_data', default=script_path('movies.csv'))` -> a parameter with the
  file's path (relative to the notebook) and `with open(...) as f: movie_data = f.read()` in
  the step that first reads `self.movie_data`;
- `from metaflow import Flow` -> `from nbflow import Flow`; the method's local `run` (a client
  handle, which cannot be stored) becomes a top-level name, so its step says `--transient run`,
  the fix nbflow's error names (the test checks that error without the option);
- module-level code -> plain cells.
- Metaflow names three of these flows `PlayListFlow` (01, 03 and 04, three files). nbflow knows
  a flow by its name and its notebook, so one datastore refuses a second notebook's runs under
  a name another notebook's runs have (so that resume and reuse never mix them): 03 and 04
  become `PlayListFlowRedux` and `PlayListFlowPlus`, and the faithful and fixed notebook of each
  have a flow of their own (`..._fixed`).

Where a flow binds a parameter's name inside a step (tutorials 03 and 04: `genre = ...`,
`for genre, data in ...`), nbflow's contract says the step fails naming it: the faithful port
is kept as is, and a `*_fixed` notebook renames the local (nothing else changes).

What is left out: `get_metadata()` (03, 04: nbflow has one metadata store per datastore, so
the line that prints the provider is dropped), `@conda_base`/`@conda` (04: no network for a
conda environment; `editdistance` is the pure-Python stand-in `editdistance.py` beside the
notebooks, with the same `eval(a, b)`).

Cell ids are derived from the notebook name, so regenerating gives byte-identical files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

Cell = tuple[str, str]  # ("markdown" | "code", source)


def md(source: str) -> Cell:
    return ("markdown", source.strip("\n"))


def code(source: str) -> Cell:
    return ("code", source.strip("\n"))


def load(flow: str) -> Cell:
    return code(f"%load_ext nbflow\n%flow name {flow}")


# -- 00-helloworld/helloworld.py ------------------------------------------------------------------

HELLOWORLD: list[Cell] = [
    md(
        "# HelloFlow\nA flow where Metaflow prints 'Hi'. "
        "(Port of metaflow/tutorials/00-helloworld.)"
    ),
    load("HelloFlow"),
    code("""
%%step start
print("HelloFlow is starting.")
"""),
    code("""
%%step hello --after start
print("Metaflow says: Hi!")
"""),
    code("""
%%step end --after hello
print("HelloFlow is all done.")
"""),
]

# -- 01-playlist/playlist.py ----------------------------------------------------------------------

PLAYLIST: list[Cell] = [
    md(
        "# PlayListFlow\nA flow to help you build your favorite movie playlist. "
        "(Port of metaflow/tutorials/01-playlist.)"
    ),
    load("PlayListFlow"),
    code("""
%%params
movie_data_path = "../data/01-playlist/movies.csv"
genre = "Sci-Fi"
recommendations = 5
"""),
    code("""
%%step start
import csv

with open(movie_data_path) as f:
    movie_data = f.read()

# For this example, we only need the movie title and the genres.
columns = ["movie_title", "genres"]
dataframe = {col: [] for col in columns}

for row in csv.DictReader(movie_data.splitlines()):
    for col in columns:
        dataframe[col].append(row[col])
"""),
    code("""
%%step bonus_movie --after start
from random import choice

# Find all the movies that are not in the provided genre.
movies = [
    (movie, genres)
    for movie, genres in zip(
        dataframe["movie_title"], dataframe["genres"]
    )
    if genre.lower() not in genres.lower()
]

# Choose one randomly.
bonus = choice(movies)
"""),
    code("""
%%step genre_movies --after start
from random import shuffle

# Find all the movies titles in the specified genre.
movies = [
    movie
    for movie, genres in zip(
        dataframe["movie_title"], dataframe["genres"]
    )
    if genre.lower() in genres.lower()
]

# Randomize the title names.
shuffle(movies)
"""),
    code("""
%%step join --after bonus_movie genre_movies
# Reassign relevant variables from our branches.
playlist = inputs.genre_movies.movies
bonus = inputs.bonus_movie.bonus
"""),
    code("""
%%step end --after join
print("Playlist for movies in genre '%s'" % genre)
for pick, movie in enumerate(playlist, start=1):
    print("Pick %d: '%s'" % (pick, movie))
    if pick >= recommendations:
        break

print("Bonus Pick: '%s' from '%s'" % (bonus[0], bonus[1]))
"""),
]

# -- 02-statistics/stats.py -----------------------------------------------------------------------

STATS: list[Cell] = [
    md(
        "# MovieStatsFlow\nA flow to generate some statistics about the movie genres. "
        "(Port of metaflow/tutorials/02-statistics.)"
    ),
    load("MovieStatsFlow"),
    code("""
%%params
movie_data_path = "../data/02-statistics/movies.csv"
"""),
    code("""
%%step start
import csv

with open(movie_data_path) as f:
    movie_data = f.read()

# Load the dataset into a dataframe structure.
columns = ["movie_title", "title_year", "genres", "gross"]
dataframe = {col: [] for col in columns}

for row in csv.DictReader(movie_data.splitlines()):
    for col in columns:
        val = int(row[col]) if col in ("title_year", "gross") else row[col]
        dataframe[col].append(val)

# The column 'genres' has a list of genres for each movie. Let's get
# all the unique genres.
genres = {
    genre for genres in dataframe["genres"] for genre in genres.split("|")
}
genres = list(genres)
"""),
    code("""
%%step compute_statistics --after start --foreach genres
# The genre currently being processed is a class property called
# 'input'.
genre = item
print("Computing statistics for %s" % genre)

# Find all the movies that have this genre and build a dataframe with
# just those movies and just the columns of interest.
selector = [genre in row for row in dataframe["genres"]]

for col in dataframe.keys():
    dataframe[col] = [
        col for col, is_genre in zip(dataframe[col], selector) if is_genre
    ]

# Sort by gross box office and drop unused column.
argsort_indices = sorted(
    range(len(dataframe["gross"])), key=dataframe["gross"].__getitem__
)
for col in dataframe.keys():
    dataframe[col] = [dataframe[col][idx] for idx in argsort_indices]
del dataframe["title_year"]

# Get some statistics on the gross box office for these titles.
n_points = len(dataframe["movie_title"])
quartiles = []
for cut in [0.25, 0.5, 0.75]:
    idx = 0 if n_points < 2 else round(n_points * cut)
    quartiles.append(dataframe["gross"][idx])
"""),
    code("""
%%step join --after compute_statistics --join
# Merge results from the genre-specific computations.
genre_stats = {
    inp.genre.lower(): {"quartiles": inp.quartiles, "dataframe": inp.dataframe}
    for inp in inputs
}
"""),
    code("""
%%step end --after join
pass
"""),
]

# -- 03-playlist-redux/playlist.py ----------------------------------------------------------------

REDUX_START = """
%%step start --transient run
from nbflow import Flow

# Load the analysis from the MovieStatsFlow.
run = Flow("MovieStatsFlow").latest_successful_run
print("Using analysis from '%s'" % str(run))

genre_stats = run.data.genre_stats
"""

REDUX_BONUS = """
%%step bonus_movie --after start
import random

# Concatenate all the genre-specific data frames.
df = {"movie_title": [], "genres": []}
for GENRE, data in genre_stats.items():
    if GENRE != genre.lower():
        for row_idx in range(len(data["dataframe"]["movie_title"])):
            if (
                genre.lower()
                not in data["dataframe"]["genres"][row_idx].lower()
            ):
                df["movie_title"].append(
                    data["dataframe"]["movie_title"][row_idx]
                )
                df["genres"].append(data["dataframe"]["genres"][row_idx])

# Choose a random movie.
random_index = random.randint(0, len(df["genres"]) - 1)
bonus = (df["movie_title"][random_index], df["genres"][random_index])
"""

GENRE_MOVIES = """
%%step genre_movies --after start
from random import shuffle

# For the genre of interest, generate a potential playlist using only
# highest gross box office titles (i.e. those in the last quartile).
GENRE = genre.lower()
if GENRE not in genre_stats:
    movies = []
else:
    df = genre_stats[GENRE]["dataframe"]
    quartiles = genre_stats[GENRE]["quartiles"]
    movies = [
        df["movie_title"][i]
        for i, g in enumerate(df["gross"])
        if g >= quartiles[-1]
    ]

# Shuffle the playlist.
shuffle(movies)
"""

PLAYLIST_JOIN = """
%%step join --after bonus_movie genre_movies
playlist = inputs.genre_movies.movies
bonus = inputs.bonus_movie.bonus
"""

PLAYLIST_END = """
%%step end --after join
# Print the playlist.
print("Playlist for movies in genre '%s'" % genre)
for pick, movie in enumerate(playlist, start=1):
    print("Pick %d: '%s'" % (pick, movie))
    if pick >= recommendations:
        break

print("Bonus Pick: '%s' from '%s'" % (bonus[0], bonus[1]))
"""


def local(source: str, name: str) -> str:
    """The Metaflow source's local `genre` (written GENRE above), or a renamed one."""
    return source.replace("GENRE", name)


def redux(fixed: bool) -> list[Cell]:
    name = "genre_name" if fixed else "genre"
    title = "fixed: the locals named `genre` renamed" if fixed else "faithful"
    return [
        md(
            f"# PlayListFlow (redux, {title})\nThe playlist from the statistics of "
            "MovieStatsFlow. (Port of metaflow/tutorials/03-playlist-redux.)"
        ),
        load("PlayListFlowRedux" + ("_fixed" if fixed else "")),
        code("""
%%params
genre = "Sci-Fi"
recommendations = 5
"""),
        code(REDUX_START),
        code(local(REDUX_BONUS, name)),
        code(local(GENRE_MOVIES, name)),
        code(PLAYLIST_JOIN),
        code(PLAYLIST_END),
    ]


# -- 04-playlist-plus/playlist.py -----------------------------------------------------------------

PLUS_BONUS = """
%%step bonus_movie --after start
import editdistance

# Define a helper function to compute the similarity between two
# strings.
def _edit_distance(movie_title):
    return editdistance.eval(hint, movie_title)

# Compute the distance and take the argmin to find the closest title.
distance = [
    _edit_distance(movie_title) for movie_title in dataframe["movie_title"]
]
index = distance.index(min(distance))
bonus = (
    dataframe["movie_title"][index],
    dataframe["genres"][index],
)
"""


def plus(fixed: bool) -> list[Cell]:
    name = "genre_name" if fixed else "genre"
    title = "fixed: the local named `genre` renamed" if fixed else "faithful"
    return [
        md(
            f"# PlayListFlow (plus, {title})\nA bonus movie closest to a hint, by edit "
            "distance. (Port of metaflow/tutorials/04-playlist-plus, without conda: "
            "`editdistance` is the stand-in module beside this notebook.)"
        ),
        load("PlayListFlowPlus" + ("_fixed" if fixed else "")),
        code('''
def get_python_version():
    """
    A convenience function to get the python version used to run this
    tutorial. This ensures that the conda environment is created with an
    available version of python.

    """
    import platform

    versions = {"2": "2.7.15", "3": "3.9.10"}
    return versions[platform.python_version_tuple()[0]]
'''),
        code("""
%%params
genre = "Sci-Fi"
hint = "Metaflow Release"
recommendations = 5
"""),
        code("""
%%step start --transient run
# Load the analysis from the MovieStatsFlow.
from nbflow import Flow

# Load the analysis from the MovieStatsFlow.
run = Flow("MovieStatsFlow").latest_successful_run
print("Using analysis from '%s'" % str(run))

# Get the dataframe from the start step before we sliced into into
# genre-specific dataframes.
dataframe = run["start"].task.data.dataframe

# Also grab the summary statistics.
genre_stats = run.data.genre_stats
"""),
        code(PLUS_BONUS),
        code(local(GENRE_MOVIES, name).replace("the playlist.", "the content.")),
        code(PLAYLIST_JOIN),
        code(PLAYLIST_END),
    ]


NOTEBOOKS: dict[str, list[Cell]] = {
    "00_helloworld": HELLOWORLD,
    "01_playlist": PLAYLIST,
    "02_statistics": STATS,
    "03_playlist_redux": redux(fixed=False),
    "03_playlist_redux_fixed": redux(fixed=True),
    "04_playlist_plus": plus(fixed=False),
    "04_playlist_plus_fixed": plus(fixed=True),
}


def build(name: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for index, (kind, source) in enumerate(NOTEBOOKS[name]):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = make(source)
        cell.id = f"{name.replace('_', '-')}-{index}"  # stable ids: regenerating changes nothing
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(name)) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name in NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        text = render(name)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run {Path(__file__).name}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
