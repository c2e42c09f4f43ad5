/**
 * The Markdown report of a run: the targets first, then one section per measure, each a table
 * of medians with their spread (p25–p75) and, for the handoff, ratios against shmflow's shm tier.
 */

import { formatBytes } from '../lib/data.js'
import type { BenchResults } from '../lib/results.js'
import { ratio, summarize } from '../lib/stats.js'
import { mib, ms, num, spread, table, times, us } from './format.js'
import {
  BASELINE, handoffDatasets, handoffRow, handoffSummary, loadSummary, p90, saveSummary,
  transportMedian,
} from './summaries.js'
import { checkTargets, verdict } from './targets.js'

function machineSection(results: BenchResults): string {
  const { machine } = results
  const load = (values: number[] | undefined) => values?.map((v) => v.toFixed(2)).join(', ') ?? '?'
  const rows = [
    ['CPU', `${machine.cpu}, ${machine.cores} cores`],
    ['memory', `${(machine.memoryBytes / 1024 ** 3).toFixed(1)} GiB`],
    ['system', `${machine.os}, kernel ${machine.kernel}`],
    ['Node / Python', `${machine.node} / ${machine.python}`],
    ['/dev/shm', machine.shmFs],
    ['temp dir (temp files, spill tiers, run dirs)', machine.tmpFs],
    ['load average (1, 5, 15 min)',
      `start ${load(machine.loadStart)}; end ${load(machine.loadEnd)}`],
    ['commit', machine.commit],
    ['run', `${results.kind}, ${results.date}, ${num(results.durationSeconds / 60)} min`],
  ]
  return `## Machine\n\n${table(['', ''], rows)}`
}

function targetsSection(results: BenchResults): string {
  const rows = checkTargets(results).map((check) => [check.target, check.measured, verdict(check)])
  return `## Targets\n\n${table(['target', 'measured (median)', 'verdict'], rows)}`
}

function contenderIds(results: BenchResults): Array<{ id: string; label: string }> {
  return results.handoff?.contenders ?? []
}

function handoffTimes(results: BenchResults): string {
  const contenders = contenderIds(results)
  const rows = handoffDatasets(results).map((dataset) => [
    dataset.kind === 'tensor' ? `${dataset.id} (${formatBytes(dataset.bytes)} f32)` : dataset.id,
    ...contenders.map(({ id }) => {
      const row = handoffRow(results, dataset.id, id)
      const summary = handoffSummary(row)
      if (row?.skipped !== undefined) return 'skipped¹'
      const failed = row?.failed === undefined ? '' : ' failed¹'
      if (summary === undefined) return `n/a${failed}`
      return `${spread(summary, ms)} n=${summary.n}${failed}`
    }),
  ])
  return table(['value', ...contenders.map(({ label }) => label)], rows)
}

function handoffRatios(results: BenchResults): string {
  const contenders = contenderIds(results).filter(({ id }) => id !== BASELINE)
  const rows = handoffDatasets(results).map((dataset) => {
    const base = handoffSummary(handoffRow(results, dataset.id, BASELINE))?.median
    return [dataset.id, ...contenders.map(({ id }) => {
      const other = handoffSummary(handoffRow(results, dataset.id, id))?.median
      return times(ratio(other, base))
    })]
  })
  return table(['value', ...contenders.map(({ label }) => label)], rows)
}

/** Where the time goes at one size: A's part, the transit, B's decode, B's read. */
function handoffPhases(results: BenchResults, dataset: string): string {
  const rows = contenderIds(results).map(({ id, label }) => {
    const row = handoffRow(results, dataset, id)
    const median = (phase: 'ms' | 'sendMs' | 'transitMs' | 'decodeMs' | 'readMs') => {
      const summary = handoffSummary(row, phase)
      return summary === undefined ? 'n/a' : ms(summary.median)
    }
    return [label, median('sendMs'), median('transitMs'), median('decodeMs'), median('readMs'),
      median('ms'), times(ratio(transportMedian(row),
        transportMedian(handoffRow(results, dataset, BASELINE))))]
  })
  const header = ['contender', 'A: encode or save', 'transit (IPC send, deliver)',
    'B: decode or load', 'B: checksum', 'total', 'transport vs shmflow (shm)']
  return table(header, rows)
}

function skippedNotes(results: BenchResults): string {
  const reasons = new Set<string>()
  for (const row of results.handoff?.rows ?? []) {
    if (row.skipped !== undefined) reasons.add(`${row.contender} at ${row.dataset}: ${row.skipped}`)
    if (row.failed !== undefined) {
      reasons.add(`${row.contender} at ${row.dataset} failed: ${row.failed}`)
    }
  }
  for (const { id, reason } of results.handoff?.missing ?? []) reasons.add(`${id}: ${reason}`)
  return [...reasons].map((reason) => `¹ ${reason}`).join('\n\n')
}

function handoffSection(results: BenchResults): string {
  if (results.handoff === undefined) return '## Handoff A → B\n\nNot measured.'
  const phaseSize = handoffDatasets(results).some((d) => d.id === '64 MiB') ? '64 MiB'
    : handoffDatasets(results).filter((d) => d.kind === 'bytes').pop()?.id ?? ''
  return [
    '## Handoff A → B (B reads every byte)',
    'Median time from A holding the value to B having read every byte of it (CRC-32), with ' +
    'p25–p75 and the number of trials. A is the harness (Python: a Python process), B a ' +
    'separate process. Photographs are decoded with sharp to float32 RGB tensors in [0, 1]. ' +
    `Saves into a pinned tier went through the ${results.handoff.tierRoute}.`,
    handoffTimes(results),
    skippedNotes(results),
    '### Ratios against shmflow (shm tier)\n\nHow many times longer each contender takes than ' +
    'shmflow with the `shm` tier (above 1: shmflow is faster).',
    handoffRatios(results),
    `### Where the time goes at ${phaseSize}\n\nMedians of each phase; "transport" leaves out ` +
    "B's checksum, which costs every contender the same.",
    handoffPhases(results, phaseSize),
  ].filter((part) => part !== '').join('\n\n')
}

function loadSection(results: BenchResults): string {
  if (results.load === undefined) return '## Load latency\n\nNot measured.'
  const sizes = [...new Set(results.load.map((row) => row.bytes))]
  const tiers = ['shm', 'mmap-file', 'disk']
  const rows = sizes.map((bytes) => [formatBytes(bytes), ...tiers.map((tier) => {
    const summary = loadSummary(results, tier, bytes)
    const row = results.load?.find((r) => r.tier === tier && r.bytes === bytes)
    return summary === undefined || row === undefined ? 'n/a'
      : `${spread(summary, us)}, p90 ${us(p90(row.samples))}`
  })])
  return ['## Load latency', '`load` of a stored value without touching its bytes, one call at ' +
    'a time with no forced collection between calls: median (p25–p75) and p90. `disk` copies ' +
    'by design; the mapped tiers should not depend on the size.',
  table(['size', ...tiers], rows)].join('\n\n')
}

function saveSection(results: BenchResults): string {
  if (results.save === undefined) return '## Save against memcpy\n\nNot measured.'
  const sizes = [...new Set(results.save.map((row) => row.bytes))]
  const methods = ['memcpy', 'memcpy-fresh', 'save-shm', 'save-mmap-file', 'save-disk']
  const rows = sizes.map((bytes) => [formatBytes(bytes), ...methods.map((method) => {
    const summary = saveSummary(results, method, bytes)
    return summary === undefined ? 'n/a' : spread(summary, ms)
  })])
  return ['## Save against the memcpy ceiling', 'One `Buffer.copy` of the same bytes into memory ' +
    'already faulted in (the ceiling), into freshly allocated memory (what any copy into new ' +
    'pages costs here), and `save` into each tier, in one process.',
  table(['size', 'memcpy (warm)', 'memcpy (fresh pages)', 'save shm', 'save mmap-file',
    'save disk'], rows)].join('\n\n')
}

function smallSection(results: BenchResults): string {
  const small = results.small
  if (small === undefined) return '## Small values\n\nNot measured.'
  const rows = small.rows.map((row) => [row.kind, row.where,
    spread(summarize(row.pairsPerSecond), num)])
  const split = `One save alone: ${us(summarize(small.saveUs).median)}; one load alone: ` +
    `${us(summarize(small.loadUs).median)} (owner process, number).`
  return ['## Small values', 'Save-then-load pairs on one key, per second (median, p25–p75).',
    table(['value', 'process', 'pairs per second'], rows), split].join('\n\n')
}

function orchestrationSection(results: BenchResults): string {
  const found = results.orchestration
  if (found === undefined) return '## Orchestration\n\nNot measured.'
  const rows = [
    ['in-process step', spread(summarize(found.inProcessMs), ms)],
    ['worker-process step, workers running', spread(summarize(found.workerSteadyMs), ms)],
    [`first call, forking ${found.workerSteps} worker(s)`,
      spread(summarize(found.workerColdCallMs), ms)],
    ['whole call with its own context, 1 empty step', spread(summarize(found.wholeCallMs), ms)],
  ]
  return ['## Orchestration overhead', '`runSequential` with empty steps, measured under plain ' +
    'Node (no TypeScript loader in the workers).', table(['what', 'time (median, p25–p75)'],
    rows)].join('\n\n')
}

function memorySection(results: BenchResults): string {
  const memory = results.memory
  if (memory === undefined) return '## Memory of B\n\nNot measured.'
  const rows = memory.rows.map((row) => [row.contender, mib(row.growth.rss, true),
    mib(row.growth.pss, true), mib(row.growth.peakRss, true), mib(row.growth.rssAnon, true),
    mib(row.growth.rssShmem + row.growth.rssFile, true)])
  const size = memory.rows[0] === undefined ? '' : formatBytes(memory.rows[0].bytes)
  return ['## Memory of B', `Growth of B's memory while it holds a ${size} value (after the ` +
    'checksum), against B just before the handoff. Private = anonymous memory: copies B owns. ' +
    'Mapped = shared-memory and file pages B maps, which exist once whoever maps them.',
  table(['contender', 'RSS', 'PSS', 'peak RSS (VmHWM)', 'private (RssAnon)',
    'mapped (RssShmem + RssFile)'], rows)].join('\n\n')
}

function failuresSection(results: BenchResults): string {
  if (results.failures.length === 0) return ''
  const items = results.failures.map(({ suite, error }) => `- ${suite}: ${error.split('\n')[0]}`)
  return `## Failures\n\n${items.join('\n')}`
}

/** The whole report. `chart` is the SVG's file name, beside the report. */
export function renderMarkdown(results: BenchResults, chart: string): string {
  const title = `# shmflow benchmark (${results.kind} run)`
  const intro = 'Produced by `npm run bench` (`npm run bench:quick` for the quick run): every ' +
    'contender runs on the same data in one run, with trials interleaved so that noise from ' +
    'the rest of the machine hits all of them alike. Raw numbers are in the JSON file beside ' +
    'this one. Sizes are powers of two: 1 MiB = 1,048,576 bytes.'
  return [title, intro, `![Handoff time by size](${chart})`, targetsSection(results),
    handoffSection(results), loadSection(results), saveSection(results), smallSection(results),
    orchestrationSection(results), memorySection(results), machineSection(results),
    failuresSection(results)].filter((part) => part !== '').join('\n\n') + '\n'
}

/** The short summary printed at the end of a run: the targets table. */
export function renderSummary(results: BenchResults): string {
  if (results.handoff === undefined) return targetsSection(results)
  return [targetsSection(results), '## Handoff A → B, median (p25–p75)', handoffTimes(results),
    '## Ratios against shmflow (shm)', handoffRatios(results)].join('\n\n')
}
