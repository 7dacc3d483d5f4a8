/** Renders rows as a plain text table with a header, columns padded to their widest cell. */
export function table(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | null | undefined>>): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? '-' : String(cell))))]
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)))
  return cells.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ')).join('\n')
}

/** `2026-03-31T12:00:00.000Z` → `2026-03-31 12:00:00Z`, shorter in a table. */
export const shortTime = (iso: string | null | undefined): string | null => (iso === null || iso === undefined ? null : iso.replace('T', ' ').replace(/\.\d{3}Z$/, 'Z'))
