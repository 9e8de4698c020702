// Run by legibility.py in the page: see its docstring. Returns what it checked and found.
([scope, minContrast, minPx]) => {
  // Disabled controls (WCAG exempts them), hidden parts, the body of a closed <details>.
  const SKIPPED = 'button:disabled, [aria-disabled="true"], .lm-mod-hidden, [hidden], ' +
                  'details:not([open]) > :not(summary)';
  const classes = el => typeof el.className === 'string' && el.className ?
    '.' + el.className.trim().split(/\s+/).join('.') : '';
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
      const fill = style.fill;
      return fill && fill !== 'none' && !fill.startsWith('url') ? rgba(fill) : null;
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
      if (paint && paint[3] > 0) {
        return over([paint[0], paint[1], paint[2], paint[3] * opacity], below);
      }
    }
    return below;
  };
  const roots = [...document.querySelectorAll(scope)];
  if (!roots.length) return {missing: true, checked: 0, lowContrast: [], tooSmall: []};
  const lowContrast = [], tooSmall = [];
  let checked = 0;
  const nodes = [...new Set(roots.flatMap(root => [root, ...root.querySelectorAll('*')]))];
  for (const el of nodes) {
    if (['SCRIPT', 'STYLE', 'TITLE', 'OPTION', 'title', 'style'].includes(el.tagName)) continue;
    const own = [...el.childNodes].filter(n => n.nodeType === 3 && n.textContent.trim());
    if (!own.length) continue;
    if (el.closest(SKIPPED)) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || Number(style.opacity) === 0) continue;
    const range = document.createRange();
    range.selectNodeContents(own[0]);
    const box = range.getBoundingClientRect();
    if (box.width < 1 || box.height < 1) continue;
    const x = box.left + Math.min(box.width / 2, 4), y = box.top + box.height / 2;
    const hit = document.elementFromPoint(x, y);
    // Covered, or scrolled out of its box: not drawn, not checked.
    if (!hit || !(hit === el || el.contains(hit) || hit.contains(el))) continue;
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
      tag: el.tagName.toLowerCase() + classes(el),
      colour: ink.slice(0, 3).map(Math.round), background: background.slice(0, 3).map(Math.round),
      contrast: Math.round(contrast * 100) / 100, px: Math.round(px * 10) / 10,
    };
    if (contrast < minContrast) lowContrast.push(what);
    if (minPx && px < minPx - 0.05) tooSmall.push(what);
  }
  return {missing: false, checked, lowContrast, tooSmall};
}
