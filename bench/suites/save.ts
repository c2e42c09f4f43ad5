/**
 * Save against the memcpy ceiling: `save` of large values (one copy into new storage) next to
 * one Buffer.copy of the same bytes into memory that is already faulted in (the ceiling the
 * targets name) and into freshly allocated memory (what any copy into new pages costs on this
 * machine). Interleaved trials, a collection between each.
 */

import type { Tier } from '../../dist/index.js'
import type { BenchConfig } from '../lib/config.js'
import { formatBytes, randomDataset } from '../lib/data.js'
import { forceGc } from '../lib/gc.js'
import { log } from '../lib/log.js'
import { TierStore } from '../lib/store.js'

export type SaveMethod = 'memcpy' | 'memcpy-fresh' | `save-${Tier}`

export interface SaveRow {
  method: SaveMethod
  bytes: number
  /** Milliseconds. */
  samples: number[]
}

function timed(action: () => void): number {
  const started = process.hrtime.bigint()
  action()
  return Number(process.hrtime.bigint() - started) / 1e6
}

async function timedAsync(action: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint()
  await action()
  return Number(process.hrtime.bigint() - started) / 1e6
}

async function measureSize(store: TierStore, bytes: number, trials: number):
  Promise<SaveRow[]> {
  const { data } = randomDataset(bytes)
  // Written once so that its pages are faulted in (Buffer.alloc's calloc would leave them not).
  const warm = Buffer.allocUnsafeSlow(bytes).fill(1)
  const methods: Record<SaveMethod, () => Promise<number>> = {
    'memcpy': async () => timed(() => data.copy(warm)),
    'memcpy-fresh': async () => timed(() => data.copy(Buffer.allocUnsafeSlow(bytes))),
    'save-shm': () => timedAsync(() => store.save('value', data, 'shm')),
    'save-mmap-file': () => timedAsync(() => store.save('value', data, 'mmap-file')),
    'save-disk': () => timedAsync(() => store.save('value', data, 'disk')),
  }
  const samples = new Map(Object.keys(methods).map((method) => [method, [] as number[]]))
  for (let trial = 0; trial < trials; trial += 1) {
    for (const [method, measure] of Object.entries(methods)) {
      samples.get(method)?.push(await measure())
      await store.delete('value')
      forceGc()
    }
  }
  return [...samples].map(([method, list]) => ({ method: method as SaveMethod, bytes,
    samples: list }))
}

export async function saveSuite(config: BenchConfig): Promise<SaveRow[]> {
  const store = await TierStore.create()
  const rows: SaveRow[] = []
  try {
    for (const bytes of config.saveSizes) {
      const trials = bytes >= 1024 ** 3 ? Math.min(config.saveTrials, 5) : config.saveTrials
      rows.push(...await measureSize(store, bytes, trials))
      forceGc()
      log(`save ${formatBytes(bytes)}: ${trials} trials`)
    }
  } finally {
    await store.shutdown()
  }
  return rows
}
