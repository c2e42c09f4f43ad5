/**
 * The parent's side of a module workflow: one child process, forked from `worker.js` (or
 * `worker.ts` when shmflow itself runs from source under a TypeScript loader), attached to the
 * run by id and reused for every iteration of one `runSequential` call.
 *
 * The child gets the parent's Node options (`execArgv`), so a loader such as tsx that runs the
 * parent's TypeScript also runs the workflow's module. A child that dies fails the pending step;
 * `close()` always ends the child, with SIGKILL if it does not leave in time.
 *
 * @module
 * @internal
 */

import { fork, type ChildProcess } from 'node:child_process'
import { extname, join } from 'node:path'
import { debuglog } from 'node:util'

import { AbortError } from './errors.js'
import type { WorkflowContext } from './context.js'
import type { SavedValue } from './ports.js'
import {
  observeMessage, reviveError, type FromWorker, type SerializedFailure, type ToWorker,
} from './worker-protocol.js'

const debug = debuglog('shmflow')

/** How long an idle child may take to leave after its channel is closed. */
const EXIT_GRACE_MS = 2000

/** The worker entry beside this file: worker.js in dist/, worker.ts in src/ under a loader. */
const WORKER_ENTRY = join(__dirname, `worker${extname(__filename)}`)

/** Node options of the parent that would make the child run something else, with a value. */
const ENTRY_OPTIONS_WITH_VALUE = new Set([
  '-e', '--eval', '-p', '--print', '-pe', '-ep', '--input-type', '--watch-path',
  '--test-name-pattern', '--test-skip-pattern', '--test-reporter', '--test-reporter-destination',
  '--test-shard', '--test-concurrency', '--test-timeout',
])

/** Node options of the parent that would make the child behave otherwise, or clash with it. */
const ENTRY_FLAGS = new Set(['-i', '--interactive', '-c', '--check', '--test', '--watch',
  '--watch-preserve-output', '-'])

/**
 * The parent's Node options minus those that pick what to run (`-e`, `--test`, ...) or open a
 * debugger port: loaders (`--import tsx`), conditions and memory limits carry over.
 */
export function workerExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = []
  for (let index = 0; index < execArgv.length; index += 1) {
    const option = execArgv[index]!
    const name = option.split('=', 1)[0]!
    if (ENTRY_OPTIONS_WITH_VALUE.has(name)) {
      if (!option.includes('=')) index += 1
    } else if (!ENTRY_FLAGS.has(name) && !/^--(inspect|debug)/.test(name)) {
      kept.push(option)
    }
  }
  return kept
}

/** What a module workflow needs to start its child. */
export interface WorkerSpec {
  workflow: string
  module: string
  export: string
}

/** A step failure reported by the child, with the key involved when there is one. */
export class WorkerStepError extends Error {
  readonly key: string | undefined

  constructor(failure: SerializedFailure) {
    super(failure.message, { cause: reviveError(failure.cause) })
    this.key = failure.key
  }
}

interface Pending {
  resolve: (message: FromWorker) => void
  reject: (error: Error) => void
}

/** One module workflow's child process. */
export class WorkerProcess {
  readonly #spec: WorkerSpec
  readonly #child: ChildProcess
  readonly #exited: Promise<void>
  #markExited: () => void = () => undefined
  #exitReason: string | undefined
  #pending: Pending | undefined
  #busy = false

  private constructor(spec: WorkerSpec, child: ChildProcess) {
    this.#spec = spec
    this.#child = child
    this.#exited = new Promise((resolve) => (this.#markExited = resolve))
    child.once('exit', (code, signal) => this.#onExit(describeExit(code, signal)))
    child.on('message', (message: FromWorker) => this.#onMessage(message))
    child.on('error', (error) => this.#onError(error))
  }

  /**
   * Forks the child, attaches it to the context's run and imports the module.
   *
   * @throws {WorkerStepError} when the module cannot be imported or has no such export.
   */
  static async start(spec: WorkerSpec, context: WorkflowContext): Promise<WorkerProcess> {
    const child = fork(WORKER_ENTRY, [], {
      execArgv: workerExecArgv(process.execArgv),
      env: { ...process.env, SHMFLOW_RUN_ID: context.runId, SHMFLOW_DIR: context.root },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    })
    debug('forked worker %d for workflow %s', child.pid, spec.workflow)

    const worker = new WorkerProcess(spec, child)
    const { runId, root } = context
    try {
      await worker.#request({ type: 'init', runId, root, ...spec })
    } catch (error) {
      await worker.close()
      throw error
    }
    return worker
  }

  /** Runs one step in the child and gives back what it saved. Abort stops waiting at once. */
  async run(
    iteration: number,
    ports: { inputs: string[]; outputs: string[] | undefined },
    signal: AbortSignal | undefined,
  ): Promise<SavedValue[]> {
    if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason })
    const message: ToWorker = {
      type: 'run', iteration, inputs: ports.inputs, outputs: ports.outputs ?? null,
    }
    const onAbort = () => this.#abort(signal?.reason)
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const answer = await this.#request(message)
      return answer.type === 'done' ? answer.saved : []
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Ends the child: lets an idle one leave, kills a busy or slow one. Always waits for exit. */
  async close(): Promise<void> {
    if (this.#exitReason !== undefined) return

    if (this.#busy || !this.#child.connected) this.#child.kill('SIGKILL')
    else this.#child.disconnect()

    const timer = setTimeout(() => this.#child.kill('SIGKILL'), EXIT_GRACE_MS)
    await this.#exited
    clearTimeout(timer)
  }

  #request(message: ToWorker): Promise<FromWorker> {
    if (this.#exitReason !== undefined) return Promise.reject(this.#exitError())

    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject }
      this.#busy = true
      observeMessage(this.#spec.workflow, 'to-worker', message)
      this.#child.send(message, (error) => {
        if (error !== null) this.#fail(error)
      })
    })
  }

  #onMessage(message: FromWorker): void {
    observeMessage(this.#spec.workflow, 'from-worker', message)
    this.#busy = false

    const pending = this.#pending
    this.#pending = undefined
    if (message.type === 'failed') pending?.reject(new WorkerStepError(message.failure))
    else pending?.resolve(message)
  }

  #abort(reason: unknown): void {
    if (this.#child.connected) {
      const message: ToWorker = { type: 'abort' }
      observeMessage(this.#spec.workflow, 'to-worker', message)
      this.#child.send(message, () => undefined)
    }
    this.#fail(new AbortError(undefined, { cause: reason }))
  }

  #fail(error: Error): void {
    const pending = this.#pending
    this.#pending = undefined
    pending?.reject(error)
  }

  #onError(error: Error): void {
    // A child that could not be spawned has no pid and will never emit 'exit'.
    if (this.#child.pid === undefined) this.#onExit(`could not be started (${error.message})`)
    else this.#fail(error)
  }

  #onExit(reason: string): void {
    if (this.#exitReason !== undefined) return

    this.#exitReason = reason
    debug('worker %d for workflow %s %s', this.#child.pid, this.#spec.workflow, reason)
    this.#fail(this.#exitError())
    this.#markExited()
  }

  #exitError(): Error {
    return new Error(`its worker process (pid ${this.#child.pid}) ${this.#exitReason} ` +
      'before finishing the step')
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal === null ? `exited with code ${code}` : `was killed by ${signal}`
}
