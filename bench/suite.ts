/**
 * Runs one suite in a fresh process and sends its results to the harness over IPC: each suite
 * starts from a clean heap, so that the garbage of one (a 1 GiB clone, thousands of mappings)
 * cannot slow down the next. argv[2] is the suite's name, argv[3] the config as JSON.
 */

import type { BenchConfig } from './lib/config.js'
import { handoffSuite } from './suites/handoff.js'
import { loadSuite } from './suites/load.js'
import { memorySuite } from './suites/memory.js'
import { orchestrationSuite } from './suites/orchestration.js'
import { saveSuite } from './suites/save.js'
import { smallSuite } from './suites/small.js'

const SUITES: Record<string, (config: BenchConfig) => Promise<unknown>> = {
  handoff: handoffSuite,
  load: loadSuite,
  save: saveSuite,
  small: smallSuite,
  orchestration: orchestrationSuite,
  memory: memorySuite,
}

async function main(): Promise<void> {
  const [name, configJson] = process.argv.slice(2)
  const suite = SUITES[name]
  if (suite === undefined) throw new Error(`no suite named ${name}`)

  const config = JSON.parse(configJson) as BenchConfig
  const results = await suite(config)
  await new Promise<void>((resolve, reject) => {
    const sent = (error: Error | null) => (error === null ? resolve() : reject(error))
    process.send?.({ ok: true, results }, sent)
  })
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.send?.({ ok: false, error: error instanceof Error ? error.stack : String(error) },
      () => process.exit(1))
  },
)
