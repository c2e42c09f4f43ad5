/**
 * The chart of a run: handoff time by size for every contender, log-log, as a standalone SVG
 * written by hand (no plotting dependency). Lines join the medians of the random-byte sizes,
 * vertical bars show p25–p75, hollow markers are the photographs (float32 tensors).
 */

import { formatBytes } from '../lib/data.js'
import type { BenchResults } from '../lib/results.js'
import { handoffDatasets, handoffRow, handoffSummary } from './summaries.js'

const WIDTH = 960
const HEIGHT = 600
const PLOT = { left: 80, right: 300, top: 50, bottom: 60 }
const COLORS = ['#1b6ac9', '#2aa198', '#6c71c4', '#d33682', '#cb4b16', '#b58900', '#859900',
  '#555555', '#268bd2', '#dc322f']

interface Point {
  bytes: number
  median: number
  p25: number
  p75: number
  photograph: boolean
}

interface Series {
  label: string
  color: string
  points: Point[]
}

/** A log10 axis from `low` to `high` (whole decades) onto pixels `from` to `to`. */
function logScale(low: number, high: number, from: number, to: number): (v: number) => number {
  const [a, b] = [Math.log10(low), Math.log10(high)]
  return (value) => from + ((Math.log10(value) - a) / (b - a)) * (to - from)
}

function collectSeries(results: BenchResults): Series[] {
  const datasets = handoffDatasets(results)
  return (results.handoff?.contenders ?? []).map(({ id, label }, index) => ({
    label,
    color: COLORS[index % COLORS.length],
    points: datasets.flatMap((dataset) => {
      const summary = handoffSummary(handoffRow(results, dataset.id, id))
      if (summary === undefined) return []
      const { median, p25, p75 } = summary
      return [{ bytes: dataset.bytes, median, p25, p75, photograph: dataset.kind === 'tensor' }]
    }),
  }))
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function msLabel(value: number): string {
  if (value >= 1000) return `${value / 1000} s`
  return value >= 1 ? `${value} ms` : `${value * 1000} µs`
}

function axes(x: (v: number) => number, y: (v: number) => number, sizes: number[],
  decades: number[]): string[] {
  const [left, right] = [PLOT.left, WIDTH - PLOT.right]
  const [top, bottom] = [PLOT.top, HEIGHT - PLOT.bottom]
  const parts = [`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" ` +
    'fill="none" stroke="#888"/>']
  for (const value of decades) {
    const py = y(value).toFixed(1)
    parts.push(`<line x1="${left}" x2="${right}" y1="${py}" y2="${py}" stroke="#e4e4e4"/>`,
      `<text x="${left - 8}" y="${py}" text-anchor="end" dominant-baseline="middle">` +
      `${escapeXml(msLabel(value))}</text>`)
  }
  for (const bytes of sizes) {
    const px = x(bytes).toFixed(1)
    parts.push(`<line x1="${px}" x2="${px}" y1="${top}" y2="${bottom}" stroke="#e4e4e4"/>`,
      `<text x="${px}" y="${bottom + 18}" text-anchor="middle">${formatBytes(bytes)}</text>`)
  }
  parts.push(`<text x="${(left + right) / 2}" y="${HEIGHT - 16}" text-anchor="middle">` +
    'size of the value (log scale)</text>',
  `<text transform="translate(18 ${(top + bottom) / 2}) rotate(-90)" text-anchor="middle">` +
    'handoff time, median (log scale)</text>')
  return parts
}

function plotSeries(series: Series, x: (v: number) => number, y: (v: number) => number):
  string[] {
  const lined = series.points.filter((point) => !point.photograph)
  const path = lined.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.bytes).toFixed(1)} ` +
    `${y(p.median).toFixed(1)}`).join(' ')
  const parts = [`<path d="${path}" fill="none" stroke="${series.color}" stroke-width="2"/>`]
  for (const point of series.points) {
    const [px, py] = [x(point.bytes).toFixed(1), y(point.median).toFixed(1)]
    parts.push(`<line x1="${px}" x2="${px}" y1="${y(point.p25).toFixed(1)}" ` +
      `y2="${y(point.p75).toFixed(1)}" stroke="${series.color}" stroke-width="1.5"/>`,
    `<circle cx="${px}" cy="${py}" r="${point.photograph ? 4 : 3.5}" ` +
      (point.photograph ? `fill="white" stroke="${series.color}" stroke-width="1.5"/>`
        : `fill="${series.color}"/>`))
  }
  return parts
}

function legend(series: Series[]): string[] {
  const left = WIDTH - PLOT.right + 20
  const parts = series.map((entry, i) => {
    const y = PLOT.top + 10 + i * 22
    return `<line x1="${left}" x2="${left + 24}" y1="${y}" y2="${y}" stroke="${entry.color}" ` +
      `stroke-width="3"/><text x="${left + 32}" y="${y}" dominant-baseline="middle">` +
      `${escapeXml(entry.label)}</text>`
  })
  const y = PLOT.top + 10 + series.length * 22 + 10
  parts.push(`<circle cx="${left + 12}" cy="${y}" r="4" fill="white" stroke="#555"/>` +
    `<text x="${left + 32}" y="${y}" dominant-baseline="middle">photographs (float32)</text>`,
  `<text x="${left}" y="${y + 24}" dominant-baseline="middle">` +
    'bars: p25–p75; lower is better</text>')
  return parts
}

/** The chart as an SVG document. */
export function renderChart(results: BenchResults): string {
  const series = collectSeries(results).filter((entry) => entry.points.length > 0)
  const points = series.flatMap((entry) => entry.points)
  const sizes = [...new Set(points.filter((p) => !p.photograph).map((p) => p.bytes))]
    .sort((a, b) => a - b)
  const times = points.flatMap((p) => [p.p25, p.p75, p.median]).filter((t) => t > 0)
  const low = 10 ** Math.floor(Math.log10(Math.min(...times)))
  const high = 10 ** Math.ceil(Math.log10(Math.max(...times)))
  const decades = Array.from({ length: Math.round(Math.log10(high / low)) + 1 },
    (_, i) => low * 10 ** i)
  const allSizes = points.map((p) => p.bytes)
  const x = logScale(Math.min(...allSizes) / 2, Math.max(...allSizes) * 2, PLOT.left,
    WIDTH - PLOT.right)
  const y = logScale(low, high, HEIGHT - PLOT.bottom, PLOT.top)

  const title = `Handoff A → B, B reads every byte (${results.kind} run, ` +
    `${results.date.slice(0, 10)}, ${results.machine.cores} cores)`
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" ` +
      `viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${PLOT.left}" y="28" font-size="16">${escapeXml(title)}</text>`,
    ...axes(x, y, sizes, decades),
    ...series.flatMap((entry) => plotSeries(entry, x, y)),
    ...legend(series),
    '</svg>',
  ].join('\n') + '\n'
}
