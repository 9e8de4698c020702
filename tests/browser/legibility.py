"""Is the text in a part of the page legible? Every element with text of its own is checked in
the page, as it is drawn: its text colour against its background (WCAG 2 relative luminance;
nothing within 3:1) and its size (computed font size, times the SVG's scale for SVG text).

The background of an HTML element is the first non-transparent background walking up its
ancestors (translucent ones composited on the way); that of SVG text is the topmost painted
shape under its middle, in the same picture, else the background behind the picture. Colours
are read by painting them on a 1x1 canvas, so every CSS colour form (`color-mix()`,
`color(srgb ...)`, `oklab()`) reads the same. Disabled controls are left out (WCAG exempts
them), as is text that is not drawn (hidden, zero-sized, out of its scroll box).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtools import screenshot_dir

MIN_CONTRAST = 3.0
MIN_FONT_PX = 11.0

_CHECK = (Path(__file__).parent / "legibility.js").read_text(encoding="utf-8")


@dataclass
class Legibility:
    """What the check found in one part of the page."""

    scope: str
    checked: int
    low_contrast: list[dict[str, Any]] = field(default_factory=list)
    too_small: list[dict[str, Any]] = field(default_factory=list)

    def problems(self) -> str:
        lines = [f"{self.scope}: {self.checked} text elements checked"]
        lines += [f"  contrast {p['contrast']}:1 {p}" for p in self.low_contrast[:20]]
        lines += [f"  {p['px']} px {p}" for p in self.too_small[:20]]
        return "\n".join(lines)


def check_legibility(page: Any, scope: str, *, min_px: float | None = MIN_FONT_PX) -> Legibility:
    """Contrast (always) and, with `min_px`, the size of every drawn text under `scope` (every
    element it matches)."""
    found = page.evaluate(_CHECK, [scope, MIN_CONTRAST, min_px or 0])
    assert not found["missing"], f"nothing on the page matches {scope}"
    return Legibility(scope, found["checked"], found["lowContrast"], found["tooSmall"])


def assert_legible(
    page: Any, scope: str, name: str, *, min_px: float | None = MIN_FONT_PX, full: bool = False
) -> Path:
    """Screenshot `scope` (its first match; `full`: the page) as screenshots/look_<name>.png,
    then assert its text reads: some text was checked, none within 3:1 of its background,
    none under `min_px` (None: size not checked, for JupyterLab's own small print)."""
    path = screenshot_dir() / f"look_{name}.png"
    target = page if full else page.locator(scope).first
    target.screenshot(path=str(path))
    found = check_legibility(page, scope, min_px=min_px)
    print(f"\n{found.problems()}")
    assert found.checked > 0, f"{scope}: no text checked"
    assert not found.low_contrast and not found.too_small, found.problems()
    return path
