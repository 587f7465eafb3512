// How numbers, times and statuses read in the dashboard.

/// US dollars: "$0" for nothing, six decimals below a cent, four above.
export function usd(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  if (value === 0) return '$0';
  const digits = Math.abs(value) < 0.01 ? 6 : 4;
  return `$${value.toFixed(digits).replace(/0+$/, '').replace(/\.$/, '')}`;
}

/// A duration in milliseconds: "85 ms", "1.20 s", "2 min 5 s".
export function duration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/// A Unix time in milliseconds as local date and time, to the second.
export function when(unixMs) {
  if (typeof unixMs !== 'number' || unixMs <= 0) return '–';
  const d = new Date(unixMs);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/// "in / out" tokens of a usage object.
export function tokens(usage) {
  if (!usage) return '–';
  const input = usage.input_tokens ?? 0;
  const output = usage.output_tokens ?? 0;
  return `${input} in / ${output} out`;
}
