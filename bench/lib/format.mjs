export function fmtRatio(x) {
  if (!Number.isFinite(x)) return '—';
  return `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`;
}

/** 12345678 -> '12.3 M', 61234 -> '61.2 k'. */
export function fmtRate(x) {
  if (!Number.isFinite(x)) return '—';
  if (x >= 1e6) return `${(x / 1e6).toFixed(x >= 1e7 ? 1 : 2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(x >= 1e4 ? 1 : 2)} k`;
  return x.toFixed(0);
}

export function fmtNum(x, digits = 0) {
  return Number.isFinite(x) ? x.toFixed(digits) : '—';
}

export function fmtBytes(x) {
  if (!Number.isFinite(x)) return '—';
  const abs = Math.abs(x);
  if (abs >= 2 ** 20) return `${(x / 2 ** 20).toFixed(1)} MiB`;
  if (abs >= 2 ** 10) return `${(x / 2 ** 10).toFixed(1)} KiB`;
  return `${x.toFixed(0)} B`;
}
