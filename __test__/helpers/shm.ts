/** What a run leaves in /dev/shm and under its root, for tests that check cleanup. */

import { existsSync, readdirSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'

import type { WorkflowContext } from '../../src/index.js'

/** Every shared-memory object named after one run, its owner lock (`-ownerlk`) included. */
export function objectsOf(runId: string): string[] {
  return readdirSync('/dev/shm').filter((name) => name.startsWith(`sf${runId}-`))
}

/** The shared-memory objects that hold one run's values right now (its owner lock aside). */
export function segmentsOf(runId: string): string[] {
  return objectsOf(runId).filter((name) => !name.endsWith('-ownerlk'))
}

/** The run's directory under its root. */
export function runDirOf(context: WorkflowContext): string {
  return runDirFor(context.root, context.runId)
}

/** The directory of the run `runId` under `root`. */
export function runDirFor(root: string, runId: string): string {
  return join(root, `shmflow-${userInfo().uid}`, runId)
}

/** True when nothing of the run is left: no shared-memory object, no run directory. */
export function isGone(context: WorkflowContext): boolean {
  return objectsOf(context.runId).length === 0 && !existsSync(runDirOf(context))
}
