/**
 * The demo's report as plain text: a header, one aligned row per pipeline step, a total row and
 * the notes that say what was measured. Pure functions; the caller decides where to print.
 */
import path from 'node:path'
import type { DemoReport, DemoStep } from './run-demo.js'

type Align = 'left' | 'right'

interface Column {
  title: string
  align: Align
}

const COLUMNS: Column[] = [
  { title: 'step', align: 'left' },
  { title: 'runs in', align: 'left' },
  { title: 'time', align: 'right' },
  { title: 'handed over', align: 'right' },
  { title: 'tier', align: 'left' },
  { title: 'shmflow handoff', align: 'right' },
  { title: 'base64 JSON handoff', align: 'right' },
  { title: 'ratio', align: 'right' },
]

/** The whole text report, lines joined with `\n`, ending without a newline. */
export function formatReport(report: DemoReport): string {
  const rows = [...report.steps.map((step) => stepRow(step, report.iterations)), totalRow(report)]
  return [...header(report), '', ...formatTable(COLUMNS, rows), '', ...notes(report)].join('\n')
}

/**
 * Lays `rows` out under `columns`, each column as wide as its widest cell, two spaces apart;
 * a rule separates the titles from the rows, and the last row from the ones above it.
 */
export function formatTable(columns: Column[], rows: string[][]): string[] {
  const titles = columns.map((column) => column.title)
  const widths = columns.map((_, index) =>
    Math.max(...[titles, ...rows].map((row) => (row[index] ?? '').length)),
  )
  const line = (cells: string[]) =>
    cells
      .map((cell, index) => pad(cell, widths[index], columns[index].align))
      .join('  ')
      .trimEnd()
  const rule = '-'.repeat(widths.reduce((sum, width) => sum + width, 2 * (widths.length - 1)))

  const body = rows.map(line)
  return [line(titles), rule, ...body.slice(0, -1), rule, ...body.slice(-1)]
}

/** `1234567` as `1.2 MB`: decimal units, as disks and networks count. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit += 1
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}

/** Milliseconds with three significant digits or so, switching to seconds from 1000 ms. */
export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`
  if (ms >= 100) return `${ms.toFixed(0)} ms`
  return `${ms.toFixed(1)} ms`
}

function header(report: DemoReport): string[] {
  const images = report.images
  const pixels = images.reduce((sum, image) => sum + image.bytes, 0)
  const { node, platform, cpu, cpus } = report.machine
  return [
    `shmflow demo: ${count(images.length, 'photograph')} from ${displayPath(report.imagesDir)} ` +
      `(${formatBytes(pixels)} as RGB), ${count(report.iterations, 'filter iteration')}`,
    `run ${report.runId} on ${platform}, Node ${node}, ${cpus} x ${cpu}`,
  ]
}

function stepRow(step: DemoStep, iterations: number): string[] {
  const name = step.workflow === 'filter' ? `filter ${step.iteration}/${iterations}` : step.workflow
  const handoff = step.handoff
  return [
    name,
    step.runsIn,
    formatMs(step.durationMs),
    step.handedOverBytes > 0 ? formatBytes(step.handedOverBytes) : '-',
    step.tiers.length > 0 ? step.tiers.join('+') : '-',
    handoff ? formatMs(handoff.shmflowMs) : '-',
    handoff ? formatMs(handoff.base64JsonMs) : '-',
    handoff ? formatRatio(handoff.base64JsonMs, handoff.shmflowMs) : '-',
  ]
}

function totalRow(report: DemoReport): string[] {
  const sum = (of: (step: DemoStep) => number) =>
    report.steps.reduce((total, step) => total + of(step), 0)
  const shmflowMs = sum((step) => step.handoff?.shmflowMs ?? 0)
  const base64JsonMs = sum((step) => step.handoff?.base64JsonMs ?? 0)

  return [
    'total',
    '',
    formatMs(sum((step) => step.durationMs)),
    formatBytes(sum((step) => step.handedOverBytes)),
    '',
    formatMs(shmflowMs),
    formatMs(base64JsonMs),
    formatRatio(base64JsonMs, shmflowMs),
  ]
}

function notes(report: DemoReport): string[] {
  const pngBytes = report.images.reduce((sum, image) => sum + image.pngBytes, 0)
  return [
    'time: the step alone. handed over: what it saved for the next step.',
    'handoff: that output sent to another process, which rebuilds and SHA-256-checks every byte',
    'before it answers; timed from the first byte sent to the reply, median of ' +
      `${repeatsOf(report)} each way.`,
    '  shmflow: save to the run, a message with the run id and keys, load in the other process.',
    '  base64 JSON: the pixels as base64 strings in a JSON message over the child\'s IPC channel.',
    '  ratio: base64 JSON time / shmflow time.',
    `wrote ${count(report.images.length, 'PNG file')} (${formatBytes(pngBytes)}) to ` +
      `${displayPath(report.outDir)}; ${formatMs(report.totalMs)} in all, handoffs included.`,
  ]
}

function repeatsOf(report: DemoReport): number {
  return report.steps.find((step) => step.handoff !== null)?.handoff?.repeats ?? 0
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

function formatRatio(slow: number, fast: number): string {
  return fast > 0 ? `${(slow / fast).toFixed(1)}x` : '-'
}

function pad(cell: string, width: number, align: Align): string {
  return align === 'left' ? cell.padEnd(width) : cell.padStart(width)
}

/** A path relative to the working directory when it lies inside it, else absolute. */
function displayPath(absolute: string): string {
  const relative = path.relative(process.cwd(), absolute)
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative)
    ? relative
    : absolute
}
