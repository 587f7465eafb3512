// Where each step of a pipeline goes in its drawing: a layered layout, a
// step's column being 1 + the largest column of the steps it needs (0 when
// it needs none), its row its place among its column's steps in the
// config's order. The steps come from the server (GET /v1/pipelines), so
// the work is bounded and iterative: at most MAX_STEPS steps and
// MAX_NEEDS needs each, no recursion. Plain JavaScript with no imports, so
// the browser test can call it directly.

export const MAX_STEPS = 200;
export const MAX_NEEDS = 200;

/// Lays out `steps` ([{id, needs: [id…]}]) as {nodes: [{id, col, row,
/// step}], edges: [{from, to}] (indexes into nodes), columns, rows,
/// dropped}. `dropped` counts the steps left out: past MAX_STEPS, not
/// objects, or with an id seen before. A need
/// naming no step (or the step itself, or one left out) draws no edge; steps
/// in a cycle (which the server refuses to load) go in one last column.
export function layout(steps) {
  const list = Array.isArray(steps) ? steps : [];
  const nodes = [];
  const index = new Map();
  for (const step of list) {
    if (nodes.length === MAX_STEPS) break;
    if (step === null || typeof step !== 'object') continue;
    const id = String(step.id ?? '');
    if (index.has(id)) continue;
    index.set(id, nodes.length);
    nodes.push({ id, col: 0, row: 0, step });
  }
  const edges = [];
  const pending = nodes.map(() => 0); // needs not yet placed
  const dependants = nodes.map(() => []);
  nodes.forEach((node, to) => {
    const needs = Array.isArray(node.step?.needs) ? node.step.needs.slice(0, MAX_NEEDS) : [];
    const seen = new Set();
    for (const need of needs) {
      const from = index.get(String(need));
      if (from === undefined || from === to || seen.has(from)) continue;
      seen.add(from);
      edges.push({ from, to });
      dependants[from].push(to);
      pending[to] += 1;
    }
  });
  // Kahn's order: a step is placed once every step it needs is.
  const queue = [];
  nodes.forEach((_, i) => pending[i] === 0 && queue.push(i));
  let placed = 0;
  for (let head = 0; head < queue.length; head += 1) {
    const i = queue[head];
    placed += 1;
    for (const d of dependants[i]) {
      nodes[d].col = Math.max(nodes[d].col, nodes[i].col + 1);
      pending[d] -= 1;
      if (pending[d] === 0) queue.push(d);
    }
  }
  let columns = nodes.reduce((max, n) => Math.max(max, n.col + 1), 0);
  if (placed < nodes.length) {
    const last = queue.length ? columns : 0;
    nodes.forEach((n, i) => {
      if (pending[i] > 0) n.col = last;
    });
    columns = last + 1;
  }
  const perColumn = new Array(columns).fill(0);
  for (const n of nodes) n.row = perColumn[n.col]++;
  return { nodes, edges, columns, rows: Math.max(0, ...perColumn), dropped: Math.max(0, list.length - nodes.length) };
}
