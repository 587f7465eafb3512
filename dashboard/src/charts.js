// Small charts drawn as inline SVG by our own code (no chart library): bars
// stacked by series over columns (days), and horizontal bars per group. Each
// is a <figure> with a title, a legend, and a <details> table of the same
// numbers (for screen readers, and to copy). Colours are classes of app.css
// (.series-0 … .series-7), so they follow the light or dark scheme.

import { html } from 'htm/preact';

const PALETTE = 8;
const W = 640; // the viewBox's width: about one pixel per unit at 1366 px
const LEFT = 64; // room for the axis's labels
const RIGHT = 12;

/// The colour class of series `i`.
export function seriesClass(i) {
  return `series-${i % PALETTE}`;
}

/// The top of an axis that holds `max`: 1, 2 or 5 times a power of ten.
export function niceMax(max) {
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= max) return step * power;
  }
  return 10 * power;
}

function Legend({ names }) {
  return html`<ul class="legend" aria-hidden="true">
    ${names.map((name, i) => html`<li><span class=${`swatch ${seriesClass(i)}`}></span>${name}</li>`)}
  </ul>`;
}

/// A chart's frame: its title, the drawing (or the `empty` message), and the
/// numbers in a table under <details>.
function Figure({ id, title, empty, note, svg, head, rows }) {
  return html`<figure class="chart" aria-labelledby=${id}>
    <figcaption><h2 id=${id}>${title}</h2>${note && html`<p class="muted small">${note}</p>`}</figcaption>
    ${empty ? html`<p class="muted empty">${empty}</p>` : svg}
    ${!empty && html`<details>
      <summary>The numbers</summary>
      <table class="numbers">
        <thead><tr>${head.map((h, i) => html`<th scope="col" class=${i ? 'num' : ''}>${h}</th>`)}</tr></thead>
        <tbody>${rows.map((row) => html`<tr>
          ${row.map((cell, i) => (i ? html`<td class="num">${cell}</td>` : html`<th scope="row">${cell}</th>`))}
        </tr>`)}</tbody>
      </table>
    </details>`}
  </figure>`;
}

/// Bars over `columns` ([{key, label}]), each stacked from `series` (names),
/// `value(column, name)` a number; `format` writes one. Series and columns
/// whose total is 0 are left out of the legend and the table.
export function StackedBars({ id, title, note, columns, series: names, value: valueOf, format, empty }) {
  const series = names.filter((name) => columns.some((c) => valueOf(c, name) > 0));
  const value = (c, s) => valueOf(c, series[s]);
  const totals = columns.map((c) => series.reduce((sum, _, s) => sum + (value(c, s) || 0), 0));
  const grand = totals.reduce((a, b) => a + b, 0);
  if (columns.length === 0 || series.length === 0 || !(grand > 0)) {
    return html`<${Figure} id=${id} title=${title} note=${note} empty=${empty} />`;
  }
  const H = 220;
  const top = 10;
  const bottom = 24;
  const axisTop = niceMax(Math.max(...totals));
  const band = (W - LEFT - RIGHT) / columns.length;
  const barWidth = Math.max(2, Math.min(48, band * 0.7));
  const y = (v) => top + (H - top - bottom) * (1 - v / axisTop);
  const every = Math.ceil(columns.length / 10); // at most about 10 labels
  const svg = html`<svg class="plot" viewBox=${`0 0 ${W} ${H}`} role="img" aria-labelledby=${id}>
    ${[0, 0.5, 1].map((f) => html`<g class="grid">
      <line x1=${LEFT} x2=${W - RIGHT} y1=${y(f * axisTop)} y2=${y(f * axisTop)} />
      <text x=${LEFT - 6} y=${y(f * axisTop) + 4} text-anchor="end">${format(f * axisTop)}</text>
    </g>`)}
    ${columns.map((c, i) => {
      const x = LEFT + band * i + (band - barWidth) / 2;
      let base = 0;
      return html`<g class="column">
        ${series.map((name, s) => {
          const v = value(c, s) || 0;
          if (!(v > 0)) return null;
          const rect = html`<rect class=${`bar ${seriesClass(s)}`} x=${x} width=${barWidth}
            y=${y(base + v)} height=${Math.max(1, y(base) - y(base + v))}>
            <title>${c.label} · ${name}: ${format(v)}</title></rect>`;
          base += v;
          return rect;
        })}
        ${i % every === 0 && html`<text class="axis" x=${x + barWidth / 2} y=${H - 6} text-anchor="middle">${c.label}</text>`}
      </g>`;
    })}
  </svg>`;
  const rows = columns
    .map((c, i) => [c.label, ...series.map((_, s) => format(value(c, s) || 0)), format(totals[i])])
    .filter((_, i) => totals[i] > 0);
  return html`<${Figure} id=${id} title=${title} note=${note} svg=${html`${svg}<${Legend} names=${series} />`}
    head=${['Day', ...series, 'Total']} rows=${rows} />`;
}

/// Horizontal bars: for each of `groups` (names, `groupLabel` their
/// column's head), one bar per entry of `bars` ([{label}]),
/// `value(group, barIndex)` a number or null; `max` fixes the axis's top
/// (else it fits the data).
export function HorizontalBars({ id, title, note, groupLabel, groups, bars, value, format, max, empty }) {
  const values = groups.map((g) => bars.map((_, b) => value(g, b)));
  const biggest = Math.max(0, ...values.flat().filter((v) => typeof v === 'number'));
  if (groups.length === 0 || !(biggest > 0 || max)) {
    return html`<${Figure} id=${id} title=${title} note=${note} empty=${empty} />`;
  }
  const label = 120; // room for the group's name
  const bar = 14;
  const gap = 10;
  const rowHeight = bars.length * bar + gap;
  const H = groups.length * rowHeight + 24;
  const axisMax = max ?? niceMax(biggest);
  const x = (v) => label + (W - label - RIGHT - 60) * Math.min(1, v / axisMax);
  const svg = html`<svg class="plot" viewBox=${`0 0 ${W} ${H}`} role="img" aria-labelledby=${id}>
    ${[0, 0.5, 1].map((f) => html`<g class="grid">
      <line x1=${x(f * axisMax)} x2=${x(f * axisMax)} y1="0" y2=${H - 18} />
      <text x=${x(f * axisMax)} y=${H - 4} text-anchor="middle">${format(f * axisMax)}</text>
    </g>`)}
    ${groups.map((g, i) => html`<g class="row">
      <text class="axis" x=${label - 8} y=${i * rowHeight + (bars.length * bar) / 2 + 4} text-anchor="end">
        ${g.length > 16 ? `${g.slice(0, 15)}…` : g}</text>
      ${bars.map((b, k) => {
        const v = values[i][k];
        if (typeof v !== 'number') return null;
        const top = i * rowHeight + k * bar;
        return html`<g>
          <rect class=${`bar ${seriesClass(k)}`} x=${label} y=${top} height=${bar - 2}
            width=${Math.max(1, x(v) - label)}><title>${g} · ${b.label}: ${format(v)}</title></rect>
          <text class="value" x=${x(v) + 4} y=${top + bar - 4}>${format(v)}</text>
        </g>`;
      })}
    </g>`)}
  </svg>`;
  const rows = groups.map((g, i) => [g, ...values[i].map((v) => (typeof v === 'number' ? format(v) : '–'))]);
  return html`<${Figure} id=${id} title=${title} note=${note}
    svg=${html`${svg}<${Legend} names=${bars.map((b) => b.label)} />`}
    head=${[groupLabel, ...bars.map((b) => b.label)]} rows=${rows} />`;
}
