// The gate's verdict as a plain-text table for the CI log: failures first, then what moved, then
// the rest; per row the base, the head, the change, the A/B's confidence, the noise and the verdict.
import type { Row, Verdict } from './judge.ts'

function num(value: number | null): string {
  if (value === null) return '-'
  if (!Number.isFinite(value)) return String(value)
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3)
}

const HEADERS = [
  'verdict',
  'check',
  'figure',
  'unit',
  'base',
  'head',
  'change',
  'confidence (95%, p)',
  'noise (CV b/h)',
  'detail',
] as const

export function renderTable(verdict: Verdict): string {
  const order = (r: Row) => (r.verdict === 'FAIL' ? 0 : r.verdict === 'faster' ? 1 : 2)
  const sorted = [...verdict.rows].sort((a, b) => order(a) - order(b))
  const rows = sorted.map((r) => [
    r.verdict,
    r.kind,
    r.figure,
    r.unit,
    num(r.base),
    num(r.head),
    r.changePct === null ? '' : `${r.changePct >= 0 ? '+' : ''}${r.changePct.toFixed(1)}%`,
    r.confidence,
    r.noise,
    r.detail,
  ])
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd()
  const failed = verdict.rows.filter((r) => r.verdict === 'FAIL').length
  const summary = verdict.pass
    ? `gate: PASS (${verdict.rows.length} checks)`
    : `gate: FAIL (${failed} of ${verdict.rows.length} checks failed)`
  return [line(HEADERS), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), '', summary].join('\n')
}
