// A pipeline's steps drawn as a graph in SVG (dag_layout.js places them):
// a box per step, an arrow from each step to the steps that need it. With
// `states` (a Map from step id to waiting, running, done, failed or
// skipped) each box is coloured, and says its state in words too.

import { html } from 'htm/preact';
import { layout } from './dag_layout.js';

const BOX_W = 168;
const BOX_H = 58;
const GAP_X = 56;
const GAP_Y = 18;
const PAD = 8;

/// `text` cut to `n` characters, with an ellipsis when it was longer.
function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/// What a step does: "ensemble NAME" or "call NAME".
export function stepWhat(step) {
  if (step?.ensemble) return `ensemble ${step.ensemble}`;
  if (step?.call) return `call ${step.call}`;
  return '';
}

/// `pipeline` ({name, steps}) as a graph; `id` makes its element ids unique.
export function Dag({ id, pipeline, states }) {
  const { nodes, edges, columns, rows, dropped } = layout(pipeline.steps);
  if (nodes.length === 0) return html`<p class="muted">This pipeline has no steps.</p>`;
  const x = (n) => PAD + n.col * (BOX_W + GAP_X);
  const y = (n) => PAD + n.row * (BOX_H + GAP_Y);
  const width = PAD * 2 + columns * BOX_W + (columns - 1) * GAP_X;
  const height = PAD * 2 + rows * BOX_H + (rows - 1) * GAP_Y;
  const arrow = `${id}-arrow`;
  return html`<figure class="dag" aria-labelledby=${`${id}-title`}>
    <figcaption id=${`${id}-title`} class="visually-hidden">
      The steps of ${pipeline.name}, each after the steps it needs
    </figcaption>
    <div class="dag-scroll" tabindex="0" role="group" aria-labelledby=${`${id}-title`}>
      <svg viewBox=${`0 0 ${width} ${height}`} width=${width} height=${height} role="img"
        aria-labelledby=${`${id}-title`}>
        <defs>
          <marker id=${arrow} viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7"
            orient="auto-start-reverse"><path class="arrow-head" d="M0,0 L10,5 L0,10 z" /></marker>
        </defs>
        ${edges.map(({ from, to }) => {
          const a = nodes[from];
          const b = nodes[to];
          const x1 = x(a) + BOX_W;
          const y1 = y(a) + BOX_H / 2;
          const x2 = x(b) - 2;
          const y2 = y(b) + BOX_H / 2;
          const mid = (x1 + x2) / 2;
          return html`<path class="edge" marker-end=${`url(#${arrow})`}
            d=${`M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`} />`;
        })}
        ${nodes.map((n) => {
          const state = states?.get(n.id);
          return html`<g class=${`node${state ? ` state-${state}` : ''}`} data-step=${n.id} data-state=${state}>
            <title>${n.id}: ${stepWhat(n.step)}${state ? ` (${state})` : ''}</title>
            <rect x=${x(n)} y=${y(n)} width=${BOX_W} height=${BOX_H} rx="8" />
            <text class="node-id" x=${x(n) + 10} y=${y(n) + 20}>${clip(n.id, 20)}</text>
            <text class="node-what" x=${x(n) + 10} y=${y(n) + 37}>${clip(stepWhat(n.step), 24)}</text>
            ${state && html`<text class="node-state" x=${x(n) + 10} y=${y(n) + 51}>${state}</text>`}
          </g>`;
        })}
      </svg>
    </div>
    ${dropped > 0 && html`<p class="muted small">${dropped} more steps are not drawn.</p>`}
  </figure>`;
}
