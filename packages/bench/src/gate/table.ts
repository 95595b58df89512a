// Renders gate findings as a plain-text table: failures first, then what moved, so the reason
// for a red gate is on the first lines of the log.
import type { Finding, Verdict } from './decide.ts'

function num(value: number | null): string {
  if (value === null) return '-'
  if (!Number.isFinite(value)) return String(value)
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3)
}

function change(f: Finding): string {
  if (f.changePct === undefined) return ''
  return `${f.changePct >= 0 ? '+' : ''}${f.changePct.toFixed(1)}%`
}

const HEADERS = ['status', 'kind', 'scenario', 'figure', 'value', 'runs', 'limit', 'change', 'detail'] as const

export function renderTable(verdict: Verdict): string {
  const order = (f: Finding) => (f.status === 'fail' ? 0 : f.detail !== '' ? 1 : 2)
  const sorted = [...verdict.findings].sort((a, b) => order(a) - order(b))
  const rows = sorted.map((f) => [
    f.status === 'fail' ? 'FAIL' : 'pass',
    f.kind,
    f.scenario,
    f.name,
    num(f.value),
    f.values === undefined ? '' : f.values.map(num).join(' / '),
    f.limit,
    change(f),
    f.detail,
  ])
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd()
  const failed = verdict.findings.filter((f) => f.status === 'fail').length
  const summary = verdict.pass
    ? `gate: PASS (${verdict.findings.length} checks${verdict.baselineChecked ? '' : ', no baseline given: ratios only'})`
    : `gate: FAIL (${failed} of ${verdict.findings.length} checks failed)`
  return [line(HEADERS), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), '', summary].join('\n')
}
