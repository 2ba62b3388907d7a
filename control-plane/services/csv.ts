/** A CSV field (RFC 4180): quoted when it holds a comma, quote, line break or edge space; quotes doubled. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return ''
  const s = String(v)
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** CSV text: a header line, then one line per row, CRLF line ends. */
export function toCsv(columns: readonly string[], rows: readonly object[]): string {
  const lines = [columns.map(csvField).join(',')]
  for (const r of rows) lines.push(columns.map((c) => csvField((r as Record<string, unknown>)[c])).join(','))
  return `${lines.join('\r\n')}\r\n`
}
