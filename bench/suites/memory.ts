/**
 * Memory of B: each contender hands one large value (256 MiB in the full run) to a fresh B,
 * which holds it; B's memory is read from /proc while it does, and compared with B's memory
 * just before (after a small warm-up handoff and a collection). The peak is VmHWM, so a fresh
 * B per contender is needed for it to mean this handoff's peak.
 */

import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'

import type { BenchConfig } from '../lib/config.js'
import type { Contender } from '../lib/contenders.js'
import { randomDataset, type Dataset } from '../lib/data.js'
import { forceGc } from '../lib/gc.js'
import { log } from '../lib/log.js'
import { memoryGrowth, sampleMemory, type MemorySample } from '../lib/memory.js'
import { TierStore } from '../lib/store.js'
import { makeContenders } from './handoff.js'

export interface MemoryRow {
  contender: string
  bytes: number
  before: MemorySample
  holding: MemorySample
  growth: MemorySample
}

export interface MemoryResults {
  rows: MemoryRow[]
  missing: Array<{ id: string; reason: string }>
}

async function handOver(contender: Contender, dataset: Dataset): Promise<void> {
  await contender.prepare(dataset)
  await contender.handoff(dataset)
}

async function measure(contender: Contender, value: Dataset, warmup: Dataset): Promise<MemoryRow> {
  await contender.start()
  try {
    await handOver(contender, warmup)
    await contender.release(true)
    await contender.finish(warmup)

    const pid = contender.consumerPid() as number
    const before = sampleMemory(pid)
    await handOver(contender, value)
    const holding = sampleMemory(pid)
    await contender.release(true)
    await contender.finish(value)
    const growth = memoryGrowth(before, holding)
    return { contender: contender.id, bytes: value.bytes, before, holding, growth }
  } finally {
    await contender.stop()
  }
}

export async function memorySuite(config: BenchConfig): Promise<MemoryResults> {
  const dir = mkdtempSync(join(os.tmpdir(), 'shmflow-bench-'))
  const store = await TierStore.create()
  const missing: MemoryResults['missing'] = []
  const contenders = makeContenders(store, config, dir, missing)
    .filter((contender) => contender.id !== 'memcpy')
  const value = randomDataset(config.memoryBytes)
  const warmup = randomDataset(1024)
  const rows: MemoryRow[] = []
  try {
    for (const contender of contenders) {
      rows.push(await measure(contender, value, warmup))
      forceGc()
      log(`memory ${contender.id}: done`)
    }
  } finally {
    await store.shutdown()
    rmSync(dir, { recursive: true, force: true })
  }
  return { rows, missing }
}
