/**
 * Recovery: what is left of runs whose owners died, and how to remove it.
 *
 * A run's owner holds a lock that the kernel releases when it dies, however it dies (SIGKILL and
 * the OOM killer included). A run whose lock can be taken is an orphan: {@link sweepOrphans}
 * removes its shared-memory objects, spill files and directory. Every new context sweeps once
 * when it is created, and a background thread repeats the sweep (see
 * `CreateOptions.sweepIntervalMs`). A run whose owner lives is never swept, and PID reuse cannot
 * make a dead owner look alive. Objects of other users are never touched.
 *
 * @module
 */

import { constants } from 'node:os'
import { isMainThread } from 'node:worker_threads'

import { callNative } from './errors.js'
import { native } from './native.js'
import type { Tier, TierUsage } from './context.js'

/** Whether a run's owner lives: `orphaned` runs are what a sweep removes. */
export type RunState = 'alive' | 'orphaned' | 'unowned'

/** One run of this user, as {@link listRuns} finds it. */
export interface RunInfo {
  /** The run id. */
  runId: string
  /** `alive`: its owner holds the lock; `orphaned`: its owner died; `unowned`: no lock at all. */
  state: RunState
  /** The owner's process id, as it recorded it. */
  pid?: number
  /** The run directory, when it exists. */
  dir?: string
  /** What the run holds in each tier. */
  tiers: Record<Tier, TierUsage>
}

/** A run that was removed (or, in a dry run, would be). */
export interface RemovedRun {
  /** The run id. */
  runId: string
  /** What the run was when it was removed. */
  state: RunState
  /** How many shared-memory objects held its values. */
  segments: number
  /** The bytes of those objects. */
  bytes: number
  /** Its run directory, removed with its spill files. */
  dir?: string
}

/** Where to look: the root of run directories; `$SHMFLOW_DIR` or the OS temp dir by default. */
export interface RecoveryOptions {
  /** The root of run directories; `$SHMFLOW_DIR` or the OS temp dir by default. */
  root?: string
}

/** Every run of this user, alive or not, with what it holds. */
export function listRuns(options: RecoveryOptions = {}): RunInfo[] {
  return callNative(() => native.listRuns(options.root), {}).map((run) => ({
    runId: run.runId,
    state: run.state as RunState,
    ...(run.pid === undefined || run.pid === null ? {} : { pid: run.pid }),
    ...(run.dir === undefined || run.dir === null ? {} : { dir: run.dir }),
    tiers: { 'shm': run.shm, 'mmap-file': run.mmapFile, 'disk': run.disk },
  }))
}

/** Options of {@link sweepOrphans}. */
export interface SweepOptions extends RecoveryOptions {
  /** Report what would be removed, remove nothing. */
  dryRun?: boolean
  /**
   * How old leftovers without any owner lock must be before they are removed (a run whose owner
   * died while creating it); 10 seconds by default. Orphans with a lock are removed at once.
   */
  graceMs?: number
}

/** Removes every orphaned run of this user, and returns what it removed. */
export function sweepOrphans(options: SweepOptions = {}): RemovedRun[] {
  const removed = callNative(
    () => native.sweepOrphans(options.root, options.graceMs, options.dryRun), {})
  return removed.map(removedRun)
}

/** Options of {@link removeRun}. */
export interface RemoveOptions extends RecoveryOptions {
  /** Remove the run even though its owner lives. */
  force?: boolean
}

/**
 * Removes one run of this user.
 *
 * @throws {RunAliveError} when its owner lives and `force` is not set.
 * @throws {RunNotFoundError} when nothing of the run exists.
 */
export function removeRun(runId: string, options: RemoveOptions = {}): RemovedRun {
  return removedRun(callNative(() => native.removeRun(runId, options.root, options.force),
    { runId }))
}

function removedRun(run: ReturnType<typeof native.removeRun>): RemovedRun {
  const { runId, state, segments, bytes, dir } = run
  return { runId, state: state as RunState, segments, bytes, ...(dir ? { dir } : {}) }
}

/** The signals whose default action ends the process; shmflow cleans up on each. */
const CLEANED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGABRT'] as const

let trackingSignals = false

/**
 * Keeps the native signal cleanup told whether the application listens to each signal itself:
 * then its listener runs as before and cleanup waits for exit; otherwise shmflow cleans up and
 * the process still dies by the signal.
 */
export function trackApplicationSignalHandlers(): void {
  if (trackingSignals || !isMainThread) return
  trackingSignals = true

  const report = (signal: string, listening: boolean) => {
    if (!(CLEANED_SIGNALS as readonly string[]).includes(signal)) return
    const number = constants.signals[signal as NodeJS.Signals]
    native.setSignalHandledByApp(number, listening)
  }
  for (const signal of CLEANED_SIGNALS) report(signal, process.listenerCount(signal) > 0)
  process.on('newListener', (event) => {
    if (typeof event === 'string') report(event, true)
  })
  // Node resets a signal to its default action once its last listener is gone; reporting
  // "not handled" then also puts the native cleanup back in place.
  process.on('removeListener', (event) => {
    if (typeof event === 'string') report(event, process.listenerCount(event) > 0)
  })
}
