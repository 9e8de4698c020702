// CompareWidget: the synced `comparison` drawn by comparisonNode (compare.js).

function renderCompare({ model, el }) {
  const root = h("div", { class: "nbf" });
  el.append(root);
  const draw = () => fill(root, comparisonNode(model.get("comparison") || {}));
  draw();
  return listen(model, { "change:comparison": draw });
}

export default { render: renderCompare };
