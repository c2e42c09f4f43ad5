/**
 * The workflow context: one run's values, kept in shared memory and reachable from every process
 * of the same user that knows the run id.
 *
 * A context is created by the run's owner or attached by run id from another process. A value
 * saved by any of them is visible to `load` in all of them as soon as `save` has resolved, and
 * concurrent saves from several processes lose nothing. Binary values load as views on the
 * stored bytes, without a copy; the views are copy-on-write, so writing into one changes nothing
 * that anyone else sees, and they stay valid after the key is overwritten or the run shut down.
 *
 * A value goes to the `shm` tier while it fits both the context's budget and the free space of the
 * shared-memory filesystem, else to a mapped file, else to a plain file in the run's spill
 * directory; the space is reserved before the value is written, so a full filesystem is an error
 * at save time, never a crash later. Every fallback is reported in the save's receipt, as a
 * `fallback` event and in `usage()`.
 *
 * The owner's `shutdown()` (or `await using`) removes every segment and file of the run; so does
 * the normal exit of the owner's process. A process that only attached never deletes the run's
 * data.
 *
 * @module
 */

import { EventEmitter } from 'node:events'
import { debuglog } from 'node:util'
import { isMainThread } from 'node:worker_threads'

import { decodeValue, encodeValue } from './codecs.js'
import {
  ContextClosedError, InvalidArgumentError, callNative,
} from './errors.js'
import { native, type NativeRun, type NativeSaveReceipt, type RunUsage } from './native.js'
import { trackApplicationSignalHandlers } from './recovery.js'
import { listContexts, registerContext, unregisterContext } from './registry.js'

const debug = debuglog('shmflow')

/** Where a value is stored: shared memory, a mapped spill file, or a plain spill file. */
export type Tier = 'shm' | 'mmap-file' | 'disk'

/**
 * A byte count, or a share of physical memory such as `'25%'`, for the `shm` tier's budget.
 */
export type ByteBudget = number | `${number}%`

/** Options of {@link WorkflowContext.create}. */
export interface CreateOptions {
  /** A run id to use (20 characters of a-z and 2-7); a random one by default. */
  runId?: string
  /** The directory that holds run directories; `$SHMFLOW_DIR` or the OS temp dir by default. */
  root?: string
  /**
   * How much of the `shm` tier this context may hold: `$SHMFLOW_MAX_SHARED_BYTES` (bytes or a
   * share such as `25%`), else half of physical memory. Values beyond it spill to a file tier
   * (see {@link SaveOptions.spill}).
   */
  maxSharedBytes?: ByteBudget
  /**
   * How often this process's background sweeper removes orphaned runs (whose owner died), in
   * milliseconds; 60 000 by default, `0` leaves it off. One sweeper runs per process, started by
   * the first context that asks for it; it never keeps the process alive.
   */
  sweepIntervalMs?: number
}

/** How often the background sweeper looks for orphaned runs, unless told otherwise. */
const DEFAULT_SWEEP_INTERVAL_MS = 60_000

/** Options of {@link WorkflowContext.attach}. */
export interface AttachOptions {
  /** The root the run was created under; `$SHMFLOW_DIR` or the OS temp dir by default. */
  root?: string
  /** How much of the `shm` tier this attached context may hold, as in {@link CreateOptions}. */
  maxSharedBytes?: ByteBudget
}

/** Options of {@link WorkflowContext.save}. */
export interface SaveOptions {
  /**
   * `'val'` (the default) stores the value itself. `'ref'` is meant for values that should not be
   * copied (models), passed as the part of a graph that produces them; it is refused for now.
   */
  passBy?: 'val' | 'ref'
  /** Store in this tier only; by default `shm`, then `mmap-file`, then `disk`, as they fit. */
  tier?: Tier
  /** `false`: fail with a {@link NoSpaceError} instead of spilling out of the first tier. */
  spill?: boolean
}

/** A tier that could not take a value, and why (`budget`, `free-space`, `ENOSPC`, ...). */
export interface Fallback {
  /** The tier that could not take the value. */
  tier: Tier
  /** Why: `budget`, `process-budget`, `free-space`, `ENOSPC`, `ENOMEM`, `EMFILE` or `EACCES`. */
  reason: string
  /** The numbers or the OS error behind the reason, for people. */
  detail: string
}

/** What the `fallback` event of a context carries: a value went past a tier that was full. */
export interface FallbackEvent extends Fallback {
  /** The key being saved. */
  key: string
}

/** The events of a {@link WorkflowContext}. */
export type ContextEvents = {
  /** A value being saved went past a tier; emitted once per tier passed, before save resolves. */
  fallback: [event: FallbackEvent]
}

/** What `save` did with a value. */
export interface SaveReceipt {
  /** The key the value was saved under. */
  key: string
  /** The tier the value went to. */
  tier: Tier
  /** The exact size of the stored payload, in bytes. */
  bytes: number
  /** The shared-memory object or file that holds the value. */
  location: string
  /** The tiers tried first that could not take the value, in order; empty when none. */
  fallbacks: Fallback[]
}

/** Bytes and values in one tier. */
export interface TierUsage {
  /** The payload bytes of the values stored in the tier. */
  bytes: number
  /** How many values the tier holds. */
  count: number
}

/** What a run holds, per tier, how many keys it has, and how its `shm` budget stands. */
export interface Usage {
  /** Bytes and values per tier. */
  tiers: Record<Tier, TierUsage>
  /** How many keys the run has. */
  keys: number
  /** The `shm` budget of this context and how much of it is used. */
  budget: SharedBudget
  /** How many times saves went past a tier, and why. */
  fallbacks: FallbackCounts
}

/** A context's budget for the `shm` tier, and what stands against it. */
export interface SharedBudget {
  /** This context's budget for the `shm` tier. */
  maxSharedBytes: number
  /** The `shm` bytes this context holds against its budget. */
  heldSharedBytes: number
  /** Free bytes of the shared-memory filesystem, when it can be measured. */
  sharedFreeBytes: number | undefined
}

/** How often saves went past a tier. */
export interface FallbackCounts {
  /** How many times in all. */
  count: number
  /** How many times for each reason, such as `budget` or `free-space`. */
  reasons: Record<string, number>
}

/**
 * One run's values, shared between processes. Every method other than `shutdown` rejects with a
 * {@link ContextClosedError} naming the run once the context is shut down.
 *
 * @example
 * ```ts
 * await using context = await WorkflowContext.create()
 * await context.save('pixels', new Uint8Array([1, 2, 3]))
 * const pixels = await context.load<Uint8Array>('pixels') // a view, not a copy
 * ```
 */
export class WorkflowContext extends EventEmitter<ContextEvents>
  implements AsyncDisposable, Disposable {
  readonly #run: NativeRun
  #warnedOfFallback = false
  readonly #root: string

  private constructor(run: NativeRun, root: string) {
    super()
    this.#run = run
    this.#root = root
    registerContext(this)
    shutDownAtExit()
    debug('%s run %s under %s', run.isOwner ? 'created' : 'attached', run.runId, root)
  }

  /**
   * Creates a new run owned by this process, with its run directory and owner lock.
   *
   * @throws {InvalidArgumentError} when `runId` is malformed or already taken.
   */
  static async create(options: CreateOptions = {}): Promise<WorkflowContext> {
    const root = rootOf(options.root)
    const runId = optionalString(options.runId, 'runId')
    const maxSharedBytes = budgetOf(options.maxSharedBytes)

    const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS
    trackApplicationSignalHandlers()
    const nativeOptions = { root, runId, maxSharedBytes, sweepIntervalMs }
    const run = callNative(() => native.NativeRun.create(nativeOptions),
      { runId })
    return new WorkflowContext(run, root)
  }

  /**
   * Attaches to an existing run of this user, created by this or another process. The attached
   * context can save, load and delete; its `shutdown` only closes it, the run lives on.
   *
   * @throws {RunNotFoundError} when no such run exists under the root.
   */
  static async attach(runId: string, options: AttachOptions = {}): Promise<WorkflowContext> {
    requireString(runId, 'runId')
    const root = rootOf(options.root)
    const maxSharedBytes = budgetOf(options.maxSharedBytes)

    const run = callNative(() => native.NativeRun.attach(runId, root, maxSharedBytes), { runId })
    return new WorkflowContext(run, root)
  }

  /** The id of the run: 20 characters of a-z and 2-7, the same in every process. */
  get runId(): string {
    return this.#run.runId
  }

  /** True in the process that created the run; only the owner's shutdown removes its data. */
  get isOwner(): boolean {
    return this.#run.isOwner
  }

  /** True once this context is shut down (or its process is exiting). */
  get closed(): boolean {
    return this.#run.isClosed
  }

  /** The directory that holds the run's directory. A child process attaches with the same. */
  get root(): string {
    return this.#root
  }

  /**
   * Stores `value` under `key`, replacing any value there atomically: a concurrent reader sees
   * the old value or the new one, never a mix. Binary data is copied exactly once.
   *
   * @throws {UnsupportedValueError} for values that cannot be stored unchanged.
   * @throws {NoSpaceError} when no tier has room for the value.
   */
  async save(key: string, value: unknown, options: SaveOptions = {}): Promise<SaveReceipt> {
    this.#checkOpen()
    requireKey(key)
    checkPassBy(options.passBy)
    const { tier, spill } = options

    const { meta, bytes } = encodeValue(key, value)
    const saved = this.#call(() => this.#run.save(key, meta, bytes, { tier, spill }), key)
    debug('saved %s in run %s: %d bytes in %s', key, this.runId, saved.bytes, saved.tier)
    return this.#receipt(key, saved)
  }

  /**
   * The value under `key`. Binary values come back as the type they were saved as, as views on
   * the stored bytes (no copy); writing into a view changes only this process's copy.
   *
   * @throws {KeyNotFoundError} when nothing is stored under `key`.
   */
  async load<T = unknown>(key: string): Promise<T> {
    this.#checkOpen()
    requireKey(key)

    const loaded = this.#call(() => this.#run.load(key), key)
    return decodeValue(loaded, key) as T
  }

  /** Whether a value is stored under `key`. */
  async has(key: string): Promise<boolean> {
    this.#checkOpen()
    requireKey(key)
    return this.#call(() => this.#run.has(key), key)
  }

  /** Removes the value under `key`; true if there was one. Views already loaded stay valid. */
  async delete(key: string): Promise<boolean> {
    this.#checkOpen()
    requireKey(key)
    return this.#call(() => this.#run.delete(key), key)
  }

  /** Every key of the run, sorted. */
  async keys(): Promise<string[]> {
    this.#checkOpen()
    return this.#call(() => this.#run.keys())
  }

  /** Bytes and values per tier, and the number of keys, across every process of the run. */
  async usage(): Promise<Usage> {
    this.#checkOpen()
    return usageOf(this.#call(() => this.#run.usage()))
  }

  /**
   * Writes the value under `key` to `path` as a self-describing segment file (header, then the
   * payload), which outlives the run. {@link loadExported} reads it back.
   */
  async exportData(key: string, path: string): Promise<void> {
    this.#checkOpen()
    requireKey(key)
    requireString(path, 'path')
    this.#call(() => this.#run.exportData(key, path), key)
  }

  /**
   * The owner removes every segment, spill file and the run directory; an attached context only
   * closes. Calling it again does nothing.
   */
  async shutdown(): Promise<void> {
    this.#shutdown()
  }

  /** Same as {@link WorkflowContext.shutdown}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#shutdown()
  }

  /** Same as {@link WorkflowContext.shutdown}, synchronously, for `using`. */
  [Symbol.dispose](): void {
    this.#shutdown()
  }

  #shutdown(): void {
    unregisterContext(this)
    if (this.#run.isClosed) return

    this.#call(() => this.#run.shutdown())
    debug('shut down run %s (%s)', this.runId, this.isOwner ? 'owner' : 'attached')
  }

  #receipt(key: string, saved: NativeSaveReceipt): SaveReceipt {
    const fallbacks = saved.fallbacks.map(({ tier, reason, detail }) => {
      debug('key %s went past tier %s (%s): %s', key, tier, reason, detail)
      return { tier: tier as Tier, reason, detail }
    })
    for (const fallback of fallbacks) this.emit('fallback', { key, ...fallback })
    if (fallbacks.length > 0 && !this.#warnedOfFallback) {
      this.#warnedOfFallback = true
      process.emitWarning(fallbackWarning(this.runId, key, fallbacks[0]!), {
        type: 'ShmflowWarning', code: 'SHMFLOW_TIER_FALLBACK',
      })
    }

    const { tier, bytes, location } = saved
    return { key, tier: tier as Tier, bytes, location, fallbacks }
  }

  #checkOpen(): void {
    if (this.#run.isClosed) throw new ContextClosedError(this.runId)
  }

  #call<T>(operation: () => T, key?: string): T {
    return callNative(operation, { key, runId: this.runId })
  }
}

/**
 * Reads a file written by {@link WorkflowContext.exportData}. Binary values are views on the
 * mapped file, as with `load`.
 *
 * @throws {CorruptSegmentError} when the file is not a complete shmflow segment.
 */
export async function loadExported<T = unknown>(path: string): Promise<T> {
  requireString(path, 'path')

  const loaded = callNative(() => native.loadExported(path), {})
  return decodeValue(loaded, path) as T
}

function usageOf(usage: RunUsage): Usage {
  const tiers = { shm: usage.shm, 'mmap-file': usage.mmapFile, disk: usage.disk }
  const { maxSharedBytes, heldSharedBytes, sharedFreeBytes } = usage
  return {
    tiers,
    keys: usage.keys,
    budget: { maxSharedBytes, heldSharedBytes, sharedFreeBytes },
    fallbacks: { count: usage.fallbacks, reasons: { ...usage.fallbackReasons } },
  }
}

/**
 * Sets one `shm` budget for all contexts of this process together, on top of each context's own;
 * `null` removes it.
 */
export function setProcessMaxSharedBytes(budget: ByteBudget | null): void {
  const bytes = budget === null ? null : budgetOf(budget)
  callNative(() => native.setProcessMaxSharedBytes(bytes), {})
}

/** A budget in bytes: a share of physical memory (`'25%'`) is resolved against its size. */
/** How to raise each limit that can send a value past the `shm` tier. */
const RAISE_THE_LIMIT: Record<string, string> = {
  'budget': "raise the context's maxSharedBytes option or SHMFLOW_MAX_SHARED_BYTES",
  'process-budget': 'raise setProcessMaxSharedBytes()',
  'free-space': 'give /dev/shm more room (Docker: --shm-size=2g; elsewhere: mount -o ' +
    'remount,size=4G /dev/shm) or free what fills it',
  'ENOSPC': 'give /dev/shm more room (Docker: --shm-size=2g) or free what fills it',
  'ENOMEM': 'the memory limit of this process or container was reached; raise it',
  'EMFILE': 'too many open files; raise the limit (ulimit -n)',
  'EACCES': 'this user may not create objects in /dev/shm; check its permissions',
}

/** The one warning a context gives on its first fallback: the limit hit and how to raise it. */
function fallbackWarning(runId: string, key: string, fallback: Fallback): string {
  const hint = RAISE_THE_LIMIT[fallback.reason] ?? 'see the fallback reason'
  return `shmflow run ${runId}: key "${key}" did not fit in tier ${fallback.tier} ` +
    `(${fallback.detail}) and was stored in a slower tier; to keep values in shared memory, ` +
    `${hint}. Later fallbacks of this run are reported only as 'fallback' events and in usage().`
}

/**
 * The `shm` budget in bytes: the option, else `$SHMFLOW_MAX_SHARED_BYTES`, else the native
 * default (half of physical memory). Both accept bytes or a share such as `'25%'`.
 */
function budgetOf(option: unknown): number | undefined {
  const budget = option ?? envBudget()
  if (budget === undefined || typeof budget === 'number') return budget
  const share = typeof budget === 'string' ? /^(\d+(?:\.\d+)?)%$/.exec(budget) : null
  if (share === null) {
    throw new InvalidArgumentError('maxSharedBytes must be a number of bytes or a share of ' +
      `memory such as '25%', got ${JSON.stringify(budget)}`)
  }
  return Math.floor((native.physicalMemory() * Number(share[1])) / 100)
}

function envBudget(): number | string | undefined {
  const value = process.env.SHMFLOW_MAX_SHARED_BYTES
  if (value === undefined || value === '') return undefined
  return /^\d+$/.test(value) ? Number(value) : value
}

function rootOf(root: string | undefined): string {
  return optionalString(root, 'root') ?? native.defaultRoot()
}

function requireKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key === '') {
    throw new InvalidArgumentError(`key must be a non-empty string, got ${JSON.stringify(key)}`)
  }
}

function requireString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidArgumentError(`${name} must be a non-empty string, got ${typeof value}`)
  }
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined
  requireString(value, name)
  return value
}

function checkPassBy(passBy: unknown): void {
  if (passBy === undefined || passBy === 'val') return
  if (passBy === 'ref') {
    throw new InvalidArgumentError("passBy 'ref' is reserved for graph workflows, which are not " +
      "available yet; save the value with passBy 'val'")
  }
  throw new InvalidArgumentError(`passBy must be 'val' or 'ref', got ${JSON.stringify(passBy)}`)
}

let exitHookInstalled = false

/**
 * Makes the normal exit of this process (or worker thread) remove every run it owns, even those
 * whose contexts were never shut down. Terminating signals are handled natively, and owners
 * killed outright are swept (see recovery.ts).
 */
function shutDownAtExit(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true

  process.once('exit', () => {
    try {
      if (isMainThread) native.shutdownOwnedRuns()
      else for (const context of listContexts()) context[Symbol.dispose]()
    } catch (error) {
      debug('cleanup at exit failed: %O', error)
    }
  })
}
