import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ScenarioResult, Series } from './scenario.ts'

/**
 * SVG line charts of the scenarios that have series (ScenarioResult.series), one per y axis
 * (series with the same yLabel share a chart: a scenario may plot ms and bytes), hand-written so the
 * report needs no charting dependency: axes from 0 with round ticks, a polyline with point
 * markers per series, a legend. Both axes are linear and start at 0, so flatness (or a slope)
 * reads honestly off the picture.
 */

const WIDTH = 720
const HEIGHT = 420
const MARGIN = { left: 72, right: 180, top: 40, bottom: 56 } as const
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf']

/**
 * Writes `<scenario>.svg` into `dir` for each scenario with series (`<scenario>-2.svg` and on for
 * its further y axes); returns scenario -> file names.
 */
export function writeCharts(scenarios: readonly ScenarioResult[], dir: string): Map<string, string[]> {
  const written = new Map<string, string[]>()
  for (const result of scenarios) {
    const byAxis = new Map<string, Series[]>()
    for (const series of result.series ?? []) byAxis.set(series.yLabel, [...(byAxis.get(series.yLabel) ?? []), series])
    const files = [...byAxis.values()].map((series, i) => {
      const file = i === 0 ? `${result.scenario}.svg` : `${result.scenario}-${i + 1}.svg`
      writeFileSync(join(dir, file), chartSvg(result.scenario, series))
      return file
    })
    if (files.length > 0) written.set(result.scenario, files)
  }
  return written
}

/** The SVG text of one chart; points whose x or y is not finite are left out (the line breaks there). */
export function chartSvg(title: string, series: readonly Series[]): string {
  const finite = (values: readonly number[]) => values.filter(Number.isFinite)
  const xTicks = ticks(Math.max(0, ...series.flatMap((s) => finite(s.x))))
  const yTicks = ticks(Math.max(0, ...series.flatMap((s) => finite(s.y))))
  const xMax = xTicks[xTicks.length - 1] as number
  const yMax = yTicks[yTicks.length - 1] as number
  const plotW = WIDTH - MARGIN.left - MARGIN.right
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom
  const px = (x: number) => MARGIN.left + (x / xMax) * plotW
  const py = (y: number) => MARGIN.top + plotH - (y / yMax) * plotH
  const first = series[0] as Series
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${xmlText(title)}</text>`,
  ]
  for (const t of xTicks) {
    const x = round(px(t))
    out.push(
      `<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${MARGIN.top + plotH}" stroke="#e5e5e5"/>`,
      `<text x="${x}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${label(t)}</text>`,
    )
  }
  for (const t of yTicks) {
    const y = round(py(t))
    out.push(
      `<line x1="${MARGIN.left}" y1="${y}" x2="${MARGIN.left + plotW}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 8}" y="${y + 4}" text-anchor="end">${label(t)}</text>`,
    )
  }
  out.push(
    `<line x1="${MARGIN.left}" y1="${MARGIN.top + plotH}" x2="${MARGIN.left + plotW}" y2="${MARGIN.top + plotH}" stroke="black"/>`,
    `<line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${MARGIN.top + plotH}" stroke="black"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 14}" text-anchor="middle">${xmlText(first.xLabel)}</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${xmlText(first.yLabel)}</text>`,
  )
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] as string
    // Consecutive finite points form one polyline; a missing point (NaN: a size not run) breaks it.
    const runs: string[][] = [[]]
    s.x.forEach((x, j) => {
      const y = s.y[j] as number
      if (Number.isFinite(x) && Number.isFinite(y)) {
        ;(runs[runs.length - 1] as string[]).push(`${round(px(x))},${round(py(y))}`)
        out.push(`<circle cx="${round(px(x))}" cy="${round(py(y))}" r="3" fill="${color}"/>`)
      } else runs.push([])
    })
    for (const run of runs) {
      if (run.length > 1) {
        out.push(`<polyline points="${run.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`)
      }
    }
    const ly = MARGIN.top + 10 + i * 20
    const lx = MARGIN.left + plotW + 16
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${lx + 30}" y="${ly + 4}">${xmlText(s.name)}</text>`,
    )
  })
  out.push('</svg>', '')
  return out.join('\n')
}

/** Round tick values from 0 to at least `max`: steps of 1, 2 or 5 × 10^k, about 5 of them. */
function ticks(max: number): number[] {
  if (!(max > 0)) return [0, 1]
  const raw = max / 5
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = ([1, 2, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude
  const out: number[] = []
  for (let t = 0; t < max + step / 2 && out.length < 20; t += step) out.push(Number(t.toPrecision(12)))
  if ((out[out.length - 1] as number) < max) out.push(Number((out.length * step).toPrecision(12)))
  return out
}

function label(value: number): string {
  return value >= 1_000 ? value.toLocaleString('en-US') : String(value)
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}

function xmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}
