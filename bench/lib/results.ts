/** Everything one run measured, as written to the JSON file of raw numbers. */

import type { BenchConfig } from './config.js'
import type { Machine } from './machine.js'
import type { HandoffResults } from '../suites/handoff.js'
import type { LoadRow } from '../suites/load.js'
import type { MemoryResults } from '../suites/memory.js'
import type { OrchestrationResults } from '../suites/orchestration.js'
import type { SaveRow } from '../suites/save.js'
import type { SmallResults } from '../suites/small.js'

export interface BenchResults {
  kind: 'full' | 'quick'
  /** ISO time of the start of the run. */
  date: string
  durationSeconds: number
  machine: Machine
  config: BenchConfig
  handoff?: HandoffResults
  load?: LoadRow[]
  save?: SaveRow[]
  small?: SmallResults
  orchestration?: OrchestrationResults
  memory?: MemoryResults
  /** Suites that failed, with the error: the report says so instead of leaving a hole. */
  failures: Array<{ suite: string; error: string }>
}

export type SuiteName = 'handoff' | 'load' | 'save' | 'small' | 'orchestration' | 'memory'

export const SUITES: readonly SuiteName[] = [
  'handoff', 'load', 'save', 'small', 'orchestration', 'memory',
]
