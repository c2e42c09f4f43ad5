/**
 * Orchestration overhead: runSequential with empty steps, per step, in this process and in
 * worker processes. Measured by peers/orchestration.mjs under plain Node, not under the tsx
 * loader that runs the harness, which every forked worker would otherwise inherit and load.
 */

import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

import type { BenchConfig } from '../lib/config.js'
import { log } from '../lib/log.js'

export interface OrchestrationResults {
  /** Milliseconds per in-process step. */
  inProcessMs: number[]
  /** Milliseconds per worker-process step, workers already running (first iteration left out). */
  workerSteadyMs: number[]
  /** Milliseconds for a whole call of one iteration: fork, attach, import, one step each. */
  workerColdCallMs: number[]
  workerSteps: number
  /** Milliseconds for runSequential with its own context and one empty in-process step. */
  wholeCallMs: number[]
}

export async function orchestrationSuite(config: BenchConfig): Promise<OrchestrationResults> {
  const script = join(__dirname, '..', 'peers', 'orchestration.mjs')
  // A clean environment for the measuring process: no loader inherited through NODE_OPTIONS.
  const env = { ...process.env, NODE_OPTIONS: '' }
  const output = execFileSync(process.execPath, [script, JSON.stringify(config)], {
    encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20,
  })
  log('orchestration: done')
  return { ...JSON.parse(output) as OrchestrationResults, workerSteps: config.workerSteps }
}
