/** Number formatting and Markdown tables for the report. */

import type { Summary } from '../lib/stats.js'

/** About three significant digits, without exponent notation. */
export function num(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  const size = Math.abs(value)
  if (size >= 100) return Math.round(value).toLocaleString('en-US')
  if (size >= 10) return value.toFixed(1)
  if (size >= 1) return value.toFixed(2)
  return value.toPrecision(3)
}

/** Milliseconds as ms, or as s above 10 s. */
export function ms(value: number): string {
  return value >= 10_000 ? `${num(value / 1000)} s` : `${num(value)} ms`
}

/** Microseconds as µs, or as ms above 10 ms. */
export function us(value: number): string {
  return value >= 10_000 ? `${num(value / 1000)} ms` : `${num(value)} µs`
}

/** A median with its interquartile range: `12.3 ms (11.9–13.0 ms)`. */
export function spread(summary: Summary, unit: (value: number) => string = num): string {
  return `${unit(summary.median)} (${unit(summary.p25)}–${unit(summary.p75)})`
    .replace(/ (\S+)–(\S+) \1\)$/, '–$2 $1)')
}

/** A ratio: `42×`, `0.85×`, or n/a. */
export function times(value: number): string {
  return Number.isFinite(value) ? `${num(value)}×` : 'n/a'
}

/** A Markdown table; cells are escaped for pipes. */
export function table(header: string[], rows: string[][]): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|')
  const lines = [header, header.map(() => '---'), ...rows]
  return lines.map((cells) => `| ${cells.map(escape).join(' | ')} |`).join('\n')
}

/** Bytes as MiB with one decimal, signed when asked. */
export function mib(bytes: number, signed = false): string {
  const text = `${(bytes / 1024 / 1024).toFixed(1)} MiB`
  return signed && bytes > 0 ? `+${text}` : text
}
