/**
 * Summaries of repeated trials: the median with its spread, robust to the odd slow trial that a
 * shared machine produces. Every reported number in bench/ comes through here.
 */

/** A median with its spread over `n` trials, in the unit of the samples. */
export interface Summary {
  median: number
  p25: number
  p75: number
  /** Median absolute deviation from the median. */
  mad: number
  min: number
  max: number
  n: number
}

/** The quantile `q` (0..1) of sorted samples, linearly interpolated. */
function quantile(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q
  const below = Math.floor(position)
  const above = Math.ceil(position)
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below)
}

/** Summarizes samples; throws on an empty list, since a missing measure must not look like 0. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('no samples to summarize')

  const sorted = [...samples].sort((a, b) => a - b)
  const median = quantile(sorted, 0.5)
  const deviations = sorted.map((x) => Math.abs(x - median)).sort((a, b) => a - b)
  return {
    median,
    p25: quantile(sorted, 0.25),
    p75: quantile(sorted, 0.75),
    mad: quantile(deviations, 0.5),
    min: sorted[0],
    max: sorted[sorted.length - 1],
    n: sorted.length,
  }
}

/** How many times slower `other` is than `base` (above 1: slower); NaN when either is missing. */
export function ratio(other: number | undefined, base: number | undefined): number {
  if (other === undefined || base === undefined || base <= 0) return NaN
  return other / base
}
