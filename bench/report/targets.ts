/**
 * The performance targets of shmflow, each checked against a run: met, not met, or not measured
 * (a quick run leaves out the largest sizes). These are goals to report on, never assertions.
 */

import { formatBytes } from '../lib/data.js'
import type { BenchResults } from '../lib/results.js'
import { ratio, summarize } from '../lib/stats.js'
import { ms, num, times, us } from './format.js'
import {
  BASELINE, handoffRow, handoffSummary, loadSummary, saveSummary, transportMedian,
} from './summaries.js'

export interface TargetCheck {
  target: string
  measured: string
  /** undefined: not measured in this run. */
  met: boolean | undefined
}

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

function notMeasured(target: string, why: string): TargetCheck {
  return { target, measured: why, met: undefined }
}

function loadTarget(results: BenchResults): TargetCheck {
  const target = '`load` of 1 GiB ≤ 2× `load` of 1 KiB, and < 100 µs (median, shm tier)'
  const sizes = results.load?.filter((row) => row.tier === 'shm').map((row) => row.bytes) ?? []
  const small = loadSummary(results, 'shm', KiB)
  const largest = Math.max(...sizes)
  const big = loadSummary(results, 'shm', largest)
  if (small === undefined || big === undefined) return notMeasured(target, 'load not measured')

  const measured = `${formatBytes(largest)}: ${us(big.median)}; 1 KiB: ${us(small.median)} ` +
    `(${times(big.median / small.median)})` +
    (largest < GiB ? `; largest size in this run is ${formatBytes(largest)}` : '')
  const met = big.median <= 2 * small.median && big.median < 100
  return { target, measured, met: largest < GiB && met ? undefined : met }
}

function saveTarget(results: BenchResults): TargetCheck {
  const target = '`save` of ≥ 64 MiB at half the memcpy ceiling or better (shm tier)'
  const sizes = [...new Set(results.save?.map((row) => row.bytes) ?? [])]
    .filter((bytes) => bytes >= 64 * MiB)
  const parts: string[] = []
  let met = sizes.length > 0
  for (const bytes of sizes) {
    const save = saveSummary(results, 'save-shm', bytes)
    const memcpy = saveSummary(results, 'memcpy', bytes)
    if (save === undefined || memcpy === undefined) continue
    const share = memcpy.median / save.median
    parts.push(`${formatBytes(bytes)}: ${ms(save.median)} vs memcpy ${ms(memcpy.median)} ` +
      `(${num(share * 100)}% of memcpy speed)`)
    met &&= share >= 0.5
  }
  if (parts.length === 0) return notMeasured(target, 'save not measured')
  return { target, measured: parts.join('; '), met }
}

function handoffTarget(results: BenchResults, contender: string, label: string, factor: number):
  TargetCheck {
  const target = `handoff of 64 MiB ≥ ${factor}× faster than ${label}`
  const other = handoffSummary(handoffRow(results, '64 MiB', contender))
  const base = handoffSummary(handoffRow(results, '64 MiB', BASELINE))
  if (other === undefined || base === undefined) return notMeasured(target, '64 MiB not measured')

  const speedup = ratio(other.median, base.median)
  const transport = ratio(transportMedian(handoffRow(results, '64 MiB', contender)),
    transportMedian(handoffRow(results, '64 MiB', BASELINE)))
  const ceiling = handoffSummary(handoffRow(results, '64 MiB', 'memcpy'))
  const measured = `${times(speedup)} (${ms(other.median)} vs ${ms(base.median)}); ` +
    `${times(transport)} without B's checksum; the in-process memcpy ceiling is ` +
    `${times(ratio(other.median, ceiling?.median))} faster than ${label}`
  return { target, measured, met: speedup >= factor }
}

function smallTarget(results: BenchResults, where: string, perSecond: number): TargetCheck {
  const target = `≥ ${perSecond.toLocaleString('en-US')} small save-and-load pairs per second ` +
    `(${where})`
  const rows = results.small?.rows.filter((row) => row.where === where) ?? []
  if (rows.length === 0) return notMeasured(target, 'small values not measured')

  const medians = rows.map((row) => ({ kind: row.kind,
    rate: summarize(row.pairsPerSecond).median }))
  const measured = medians.map(({ kind, rate }) => `${kind}: ${num(rate)}/s`).join('; ')
  return { target, measured, met: medians.every(({ rate }) => rate >= perSecond) }
}

function orchestrationTargets(results: BenchResults): TargetCheck[] {
  const inProcessTarget = '≤ 1 ms of orchestration per in-process step'
  const workerTarget = '≤ 5 ms of orchestration per worker-process step (workers running)'
  const found = results.orchestration
  if (found === undefined) {
    return [notMeasured(inProcessTarget, 'not measured'), notMeasured(workerTarget, 'not measured')]
  }
  const inProcess = summarize(found.inProcessMs).median
  const steady = summarize(found.workerSteadyMs).median
  const cold = summarize(found.workerColdCallMs).median
  return [
    { target: inProcessTarget, measured: ms(inProcess), met: inProcess <= 1 },
    { target: workerTarget, measured: `${ms(steady)}; a first call that forks ` +
      `${found.workerSteps} worker(s): ${ms(cold)}`, met: steady <= 5 },
  ]
}

function memoryTarget(results: BenchResults): TargetCheck {
  const row = results.memory?.rows.find((candidate) => candidate.contender === BASELINE)
  const size = row === undefined ? '256 MiB' : formatBytes(row.bytes)
  const target = `B's extra memory for a ${size} shmflow value < 10% of the value`
  if (row === undefined) return notMeasured(target, 'memory not measured')

  const own = row.growth.rssAnon
  const measured = `${num((own / row.bytes) * 100)}% private (anonymous) growth; B maps the ` +
    `shared segment: RSS +${num((row.growth.rss / row.bytes) * 100)}% (pages shared, not copied)`
  return { target, measured, met: own < 0.1 * row.bytes }
}

/** Every target, in the order the issue lists them. */
export function checkTargets(results: BenchResults): TargetCheck[] {
  return [
    loadTarget(results),
    saveTarget(results),
    handoffTarget(results, 'base64-json', 'base64 in JSON', 100),
    handoffTarget(results, 'advanced-ipc', 'advanced IPC', 10),
    handoffTarget(results, 'python-shm', 'the Python shared-memory approach', 5),
    smallTarget(results, 'owner process', 100_000),
    smallTarget(results, 'second process', 20_000),
    ...orchestrationTargets(results),
    memoryTarget(results),
  ]
}

/** "met", "NOT met" or "not measured". */
export function verdict(check: TargetCheck): string {
  if (check.met === undefined) return 'not measured'
  return check.met ? 'met' : '**NOT met**'
}
