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

_CHECK = """
([scope, minContrast, minPx]) => {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const rgba = (css) => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = 'rgba(0, 0, 0, 0)';
    ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
    return [r, g, b, a / 255];
  };
  const over = (top, below) => {  // `top` composited over the opaque `below`
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + below[i] * (1 - a)).concat(1);
  };
  const luminance = ([r, g, b]) => {
    const lin = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const ratio = (x, y) => {
    const [a, b] = [luminance(x), luminance(y)].sort((p, q) => q - p);
    return (a + 0.05) / (b + 0.05);
  };
  const paintOf = (el) => {
    const style = getComputedStyle(el);
    if (el instanceof SVGElement) {
      return style.fill && style.fill !== 'none' && !style.fill.startsWith('url') ? rgba(style.fill) : null;
    }
    return rgba(style.backgroundColor);
  };
  // Layers from `el` up, until an opaque one; composited bottom up over white.
  const backgroundFrom = (el) => {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      if (node instanceof SVGElement && node.tagName !== 'svg') continue;  // groups, text
      const colour = rgba(getComputedStyle(node).backgroundColor);
      if (colour[3] > 0) layers.push(colour);
      if (colour[3] >= 1) break;
    }
    let colour = [255, 255, 255, 1];
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const svgBackground = (text, x, y) => {
    const svg = text.ownerSVGElement;
    const below = backgroundFrom(svg);
    const stack = document.elementsFromPoint(x, y)
      .filter(el => el !== text && !text.contains(el) && svg.contains(el) && el !== svg
              && ['rect', 'circle', 'path', 'polygon', 'ellipse'].includes(el.tagName));
    for (const shape of stack) {
      const paint = paintOf(shape);
      const opacity = Number(getComputedStyle(shape).opacity || 1) *
                      Number(getComputedStyle(shape).fillOpacity || 1);
      if (paint && paint[3] > 0) return over([paint[0], paint[1], paint[2], paint[3] * opacity], below);
    }
    return below;
  };
  const root = document.querySelector(scope);
  if (!root) return {missing: true, checked: 0, lowContrast: [], tooSmall: []};
  const lowContrast = [], tooSmall = [];
  let checked = 0;
  const nodes = [root, ...root.querySelectorAll('*')];
  for (const el of nodes) {
    if (['SCRIPT', 'STYLE', 'TITLE', 'OPTION', 'title', 'style'].includes(el.tagName)) continue;
    const own = [...el.childNodes].filter(n => n.nodeType === 3 && n.textContent.trim());
    if (!own.length) continue;
    if (el.closest('button:disabled, [aria-disabled="true"], .lm-mod-hidden, [hidden], details:not([open]) > :not(summary)')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none' || Number(style.opacity) === 0) continue;
    const range = document.createRange();
    range.selectNodeContents(own[0]);
    const box = range.getBoundingClientRect();
    if (box.width < 1 || box.height < 1) continue;
    const x = box.left + Math.min(box.width / 2, 4), y = box.top + box.height / 2;
    const hit = document.elementFromPoint(x, y);
    if (!hit || !(hit === el || el.contains(hit) || hit.contains(el))) continue;  // covered or scrolled away
    checked += 1;
    const isSvg = el instanceof SVGElement;
    const text = isSvg ? rgba(style.fill) : rgba(style.color);
    const background = isSvg ? svgBackground(el, x, y) : backgroundFrom(el);
    const ink = over(text, background);
    const contrast = ratio(ink, background);
    const scale = isSvg && el.ownerSVGElement ? Math.abs(el.ownerSVGElement.getScreenCTM().a) : 1;
    const px = parseFloat(style.fontSize) * scale;
    const what = {
      text: own.map(n => n.textContent.trim()).join(' ').slice(0, 50),
      tag: el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : ''),
      colour: ink.slice(0, 3).map(Math.round), background: background.slice(0, 3).map(Math.round),
      contrast: Math.round(contrast * 100) / 100, px: Math.round(px * 10) / 10,
    };
    if (contrast < minContrast) lowContrast.push(what);
    if (minPx && px < minPx - 0.05) tooSmall.push(what);
  }
  return {missing: false, checked, lowContrast, tooSmall};
}
"""


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
    """Contrast (always) and, with `min_px`, the size of every drawn text under `scope`."""
    found = page.evaluate(_CHECK, [scope, MIN_CONTRAST, min_px or 0])
    assert not found["missing"], f"nothing on the page matches {scope}"
    return Legibility(scope, found["checked"], found["lowContrast"], found["tooSmall"])


def assert_legible(
    page: Any, scope: str, name: str, *, min_px: float | None = MIN_FONT_PX, full: bool = False
) -> Path:
    """Screenshot `scope` as screenshots/look_<name>.png, then assert its text reads: some text
    was checked, none within 3:1 of its background, none under `min_px` (None: size not
    checked, for the notebook's own text)."""
    path = screenshot_dir() / f"look_{name}.png"
    target = page if full else page.locator(scope).first
    target.screenshot(path=str(path))
    found = check_legibility(page, scope, min_px=min_px)
    print(f"\n{found.problems()}")
    assert found.checked > 0, f"{scope}: no text checked"
    assert not found.low_contrast and not found.too_small, found.problems()
    return path
