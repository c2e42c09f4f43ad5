/** Summaries of the raw samples, shared by the Markdown tables, the targets and the chart. */

import type { Handoff } from '../lib/contenders.js'
import type { BenchResults } from '../lib/results.js'
import { summarize, type Summary } from '../lib/stats.js'
import type { HandoffRow } from '../suites/handoff.js'

/** The contender every ratio is taken against. */
export const BASELINE = 'shmflow-shm'

/** The summary of one phase (or the whole) of a handoff row; undefined when skipped. */
export function handoffSummary(row: HandoffRow | undefined, phase: keyof Handoff = 'ms'):
  Summary | undefined {
  if (row?.samples === undefined || row.samples.length === 0) return undefined
  return summarize(row.samples.map((sample) => sample[phase]))
}

/** The handoff row of a dataset and contender. */
export function handoffRow(results: BenchResults, dataset: string, contender: string):
  HandoffRow | undefined {
  return results.handoff?.rows.find((row) => row.dataset === dataset && row.contender === contender)
}

/** The datasets of the handoff, in run order, with their kind and size. */
export function handoffDatasets(results: BenchResults):
  Array<{ id: string; kind: string; bytes: number }> {
  const seen = new Map<string, { id: string; kind: string; bytes: number }>()
  for (const row of results.handoff?.rows ?? []) {
    if (!seen.has(row.dataset)) seen.set(row.dataset, { id: row.dataset, kind: row.kind,
      bytes: row.bytes })
  }
  return [...seen.values()]
}

/** Median handoff time without B's read of every byte: the cost of the transport itself. */
export function transportMedian(row: HandoffRow | undefined): number | undefined {
  if (row?.samples === undefined || row.samples.length === 0) return undefined
  return summarize(row.samples.map((sample) => sample.ms - sample.readMs)).median
}

/** The summary of a load row (µs) by tier and size. */
export function loadSummary(results: BenchResults, tier: string, bytes: number):
  Summary | undefined {
  const row = results.load?.find((candidate) => candidate.tier === tier &&
    candidate.bytes === bytes)
  return row === undefined ? undefined : summarize(row.samples)
}

/** The summary of a save row (ms) by method and size. */
export function saveSummary(results: BenchResults, method: string, bytes: number):
  Summary | undefined {
  const row = results.save?.find((candidate) => candidate.method === method &&
    candidate.bytes === bytes)
  return row === undefined ? undefined : summarize(row.samples)
}

/** The 90th percentile of samples. */
export function p90(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))]
}
