/** Aligned columns for people: a header line, then the rows; numbers are right-aligned. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = rows.map((r) => r.map((v) => (v === null || v === undefined || v === '' ? '-' : String(v))))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)))
  const numeric = headers.map((_, i) => cells.length > 0 && cells.every((r) => /^-?[\d.,]+( ?[KMGTP]?i?B|%)?$|^-$/.test(r[i] ?? '')))
  const line = (r: string[]) =>
    r
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(headers), ...cells.map(line)].join('\n') + '\n'
}

/** 1536 → "1.5 KiB". */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = Math.abs(n)
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  const s = u === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)
  return `${n < 0 ? '-' : ''}${s} ${units[u]}`
}

export function percent(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? '-' : `${(ratio * 100).toFixed(1)}%`
}
