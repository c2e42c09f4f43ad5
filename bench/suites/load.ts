/**
 * Load latency: `load` of a value that is already stored, by size and tier, without touching
 * its bytes. A mapped tier should be flat in the size (no copy); `disk` copies by design.
 * Loads follow each other without forced collections in between, as in a user's loop.
 */

import { WorkflowContext, type Tier } from '../../dist/index.js'
import type { BenchConfig } from '../lib/config.js'
import { formatBytes } from '../lib/data.js'
import { forceGc } from '../lib/gc.js'
import { log } from '../lib/log.js'
import { TierStore } from '../lib/store.js'

export interface LoadRow {
  tier: Tier
  bytes: number
  /** Microseconds per load. */
  samples: number[]
}

const GiB = 1024 ** 3

/** A copying tier reads the whole value each time: cap the repeats at about 1 GiB read. */
function repeatsFor(tier: Tier, bytes: number, repeats: number): number {
  if (tier !== 'disk') return repeats
  return Math.max(5, Math.min(repeats, Math.floor(GiB / bytes)))
}

async function timeLoads(context: WorkflowContext, key: string, repeats: number):
  Promise<number[]> {
  const samples: number[] = []
  for (let i = 0; i < repeats; i += 1) {
    const started = process.hrtime.bigint()
    await context.load(key)
    samples.push(Number(process.hrtime.bigint() - started) / 1e3)
  }
  return samples
}

export async function loadSuite(config: BenchConfig): Promise<LoadRow[]> {
  const store = await TierStore.create()
  const { context } = store
  const rows: LoadRow[] = []
  try {
    for (const tier of ['shm', 'mmap-file', 'disk'] as const) {
      for (const bytes of config.loadSizes) {
        await store.save('value', Buffer.alloc(bytes, 0x5a), tier)
        await timeLoads(context, 'value', 3)
        const repeats = repeatsFor(tier, bytes, config.loadRepeats)
        rows.push({ tier, bytes, samples: await timeLoads(context, 'value', repeats) })
        await context.delete('value')
        forceGc()
        log(`load ${tier} ${formatBytes(bytes)}: ${repeats} loads`)
      }
    }
  } finally {
    await store.shutdown()
  }
  return rows
}
