/**
 * Handoff: every contender hands the same values from A to B, who reads every byte. Trials are
 * interleaved (trial 1 of each contender, then trial 2 of each, in a rotating order), so that a
 * burst of load from elsewhere on the machine hits all contenders alike and the ratios hold.
 */

import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'

import { trialsFor, type BenchConfig } from '../lib/config.js'
import {
  AdvancedIpcContender, Base64JsonContender, MemcpyContender, PythonContender, ShmflowContender,
  TempFileContender, type Contender, type Handoff,
} from '../lib/contenders.js'
import { type Dataset } from '../lib/data.js'
import { eachDataset } from '../lib/datasets.js'
import { forceGc } from '../lib/gc.js'
import { log } from '../lib/log.js'
import { pythonProblem } from '../lib/python.js'
import { TierStore } from '../lib/store.js'

/** From this size on, both sides collect garbage between trials; below, it is too little. */
const COLLECT_FROM_BYTES = 4 * 1024 * 1024

/** The samples of one contender on one dataset, or why there are none. */
export interface HandoffRow {
  dataset: string
  kind: Dataset['kind']
  bytes: number
  contender: string
  samples?: Handoff[]
  skipped?: string
  /** The error that stopped this contender at this dataset (its samples so far are kept). */
  failed?: string
}

export interface HandoffResults {
  contenders: Array<{ id: string; label: string }>
  rows: HandoffRow[]
  /** Contenders left out of the whole run, and why (no Python, ...). */
  missing: Array<{ id: string; reason: string }>
  /** How A saved into a pinned tier: the public API, or the native binding underneath. */
  tierRoute: string
}

/** Every contender this machine can run; `missing` gets those it cannot. */
export function makeContenders(store: TierStore, config: BenchConfig, dir: string,
  missing: HandoffResults['missing']): Contender[] {
  const contenders: Contender[] = [
    new ShmflowContender(store, 'shm'),
    new ShmflowContender(store, 'mmap-file'),
    new ShmflowContender(store, 'disk'),
    new Base64JsonContender(),
    new AdvancedIpcContender(),
    new TempFileContender(dir),
  ]
  const problem = pythonProblem(config.python)
  if (problem === undefined) contenders.push(new PythonContender(config.python, join(dir, 'py')))
  else missing.push({ id: 'python-shm', reason: problem })
  contenders.push(new MemcpyContender())
  return contenders
}

/** The samples of each contender at one dataset, and the error of those that failed. */
interface Measured {
  samples: Map<Contender, Handoff[]>
  failed: Map<Contender, string>
}

/** One handoff and its cleanup; large garbage is collected between trials, never inside one. */
async function trial(contender: Contender, dataset: Dataset): Promise<Handoff> {
  const handoff = await contender.handoff(dataset)
  const collect = dataset.bytes >= COLLECT_FROM_BYTES
  await contender.release(collect)
  if (collect) forceGc()
  return handoff
}

/**
 * Runs one untimed handoff per contender, then the interleaved trials. A contender that fails
 * is reported with its error and left out for the rest of this dataset; the others go on.
 */
async function measure(dataset: Dataset, contenders: Contender[], config: BenchConfig):
  Promise<Measured> {
  const measured: Measured = {
    samples: new Map(contenders.map((contender) => [contender, [] as Handoff[]])),
    failed: new Map(),
  }
  const trials = trialsFor(config, dataset.bytes)
  const warmups = dataset.bytes <= config.warmupMaxBytes ? 1 : 0

  for (let round = 0; round < warmups + trials; round += 1) {
    const shift = round % contenders.length
    const order = [...contenders.slice(shift), ...contenders.slice(0, shift)]
    for (const contender of order) {
      if (measured.failed.has(contender)) continue
      if (round - warmups >= contender.maxTrials(dataset.bytes)) continue
      try {
        const handoff = await trial(contender, dataset)
        if (round >= warmups) measured.samples.get(contender)?.push(handoff)
      } catch (error) {
        measured.failed.set(contender, (error as Error).message.split('\n')[0])
        log(`handoff ${dataset.id}: ${contender.id} failed: ${(error as Error).message}`)
        await contender.release(true).catch(() => undefined)
      }
    }
  }
  return measured
}

async function handoffDataset(dataset: Dataset, contenders: Contender[], config: BenchConfig):
  Promise<HandoffRow[]> {
  const row = (contender: Contender) => ({
    dataset: dataset.id, kind: dataset.kind, bytes: dataset.bytes, contender: contender.id,
  })
  const running = contenders.filter((contender) => contender.skip(dataset.bytes) === undefined)
  for (const contender of running) await contender.prepare(dataset)

  const started = Date.now()
  const { samples, failed } = await measure(dataset, running, config)
  for (const contender of running) await contender.finish(dataset)
  log(`handoff ${dataset.id}: ${((Date.now() - started) / 1000).toFixed(1)} s`)

  return contenders.map((contender) => {
    const skipped = contender.skip(dataset.bytes)
    if (skipped !== undefined) return { ...row(contender), skipped }
    const error = failed.get(contender)
    return { ...row(contender), samples: samples.get(contender), ...error && { failed: error } }
  })
}

export async function handoffSuite(config: BenchConfig): Promise<HandoffResults> {
  const dir = mkdtempSync(join(os.tmpdir(), 'shmflow-bench-'))
  const store = await TierStore.create()
  const missing: HandoffResults['missing'] = []
  const contenders = makeContenders(store, config, dir, missing)
  const rows: HandoffRow[] = []
  try {
    await Promise.all(contenders.map((contender) => contender.start()))
    for await (const dataset of eachDataset(config, missing)) {
      rows.push(...await handoffDataset(dataset, contenders, config))
    }
  } finally {
    for (const contender of contenders) await contender.stop()
    await store.shutdown()
    rmSync(dir, { recursive: true, force: true })
  }
  const list = contenders.map(({ id, label }) => ({ id, label }))
  return { contenders: list, rows, missing, tierRoute: store.route }
}
