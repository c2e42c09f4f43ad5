/**
 * runSequential: runs workflows one after another, for a number of iterations, passing their
 * data through one shared context.
 *
 * Guarantees:
 * - It uses the given context and leaves it open, or creates one and always shuts it down at the
 *   end, on success, on error and on abort.
 * - Inputs are saved by key first. Each workflow's input ports load from the context and its
 *   output ports save to it, so iteration `i + 1` sees what iteration `i` saved.
 * - A module workflow runs in its own child process (one per workflow per call, reused across
 *   iterations), which attaches to the run by id; only keys and the run id travel over IPC.
 *   Every child is ended before runSequential settles.
 * - A failure is a {@link WorkflowError} naming the workflow, the iteration and the key involved.
 * - An abort stops the run between steps (and stops waiting for a module workflow's child at
 *   once) with an {@link AbortError}.
 *
 * @module
 */

import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { debuglog } from 'node:util'

import { WorkflowContext } from './context.js'
import { AbortError, ContextClosedError, InvalidArgumentError, WorkflowError } from './errors.js'
import { loadInputs, PortFailure, saveOutputs, type SavedValue, type StepOutputs } from './ports.js'
import { withCurrentContext } from './registry.js'
import { WorkerProcess, WorkerStepError } from './worker-process.js'

const debug = debuglog('shmflow')

/** What a step gets besides its inputs. */
export interface StepInfo {
  /** The workflow's name. */
  workflow: string
  /** The iteration, from 0. */
  iteration: number
  /** The run's context (in a module workflow, the child's attached context). */
  context: WorkflowContext
  /** Aborted when the run is aborted; a long step should stop when it fires. */
  signal: AbortSignal
}

/**
 * A step: gets its input ports' values by key and returns its outputs by key (or nothing). What
 * it returns is saved to the context; with declared `outputs`, exactly those keys must be there.
 */
export type StepFunction = (
  inputs: Record<string, unknown>,
  step: StepInfo,
) => StepOutputs | void | Promise<StepOutputs | void>

/** What every workflow declares. */
export interface WorkflowPorts {
  /** A unique, human name, used in events and errors. */
  name: string
  /** The keys to load before the step runs. */
  inputs?: string[]
  /** The keys the step must return; every returned key is saved when omitted. */
  outputs?: string[]
}

/** A workflow run in this process. */
export interface FunctionWorkflow extends WorkflowPorts {
  /** The step, called once per iteration in this process. */
  run: StepFunction
}

/**
 * A workflow run in a child process. Its module (a path, or a `file:` URL; relative paths are
 * resolved against the current directory) exports a {@link StepFunction}: `default` unless
 * `export` names another. TypeScript modules work when this process runs under a TypeScript
 * loader such as tsx, since the child inherits its Node options.
 */
export interface ModuleWorkflow extends WorkflowPorts {
  /** The module's path or `file:` URL. */
  module: string
  /** The name of the export that is the step; `default` by default. */
  export?: string
}

/** One step of {@link runSequential}. */
export type Workflow = FunctionWorkflow | ModuleWorkflow

/** The run started: its context is ready and nothing ran yet. */
export interface RunStartEvent {
  /** The kind of event. */
  type: 'run-start'
  /** The run id of the context. */
  runId: string
  /** How many iterations will run. */
  iterations: number
}

/** A workflow step is about to load its inputs and run. */
export interface WorkflowStartEvent {
  /** The kind of event. */
  type: 'workflow-start'
  /** The workflow's name. */
  workflow: string
  /** The iteration, from 0. */
  iteration: number
  /** The workflow's position in the list, from 0. */
  index: number
}

/** A workflow step finished and its outputs are saved. */
export interface WorkflowEndEvent {
  /** The kind of event. */
  type: 'workflow-end'
  /** The workflow's name. */
  workflow: string
  /** The iteration, from 0. */
  iteration: number
  /** The workflow's position in the list, from 0. */
  index: number
  /** How long the step took, loading and saving included. */
  durationMs: number
  /** What the step saved: key, tier and bytes of each output. */
  saved: SavedValue[]
}

/** The run succeeded; its outputs are about to be returned. */
export interface RunEndEvent {
  /** The kind of event. */
  type: 'run-end'
  /** The run id of the context. */
  runId: string
  /** How long the whole run took. */
  durationMs: number
}

/** Progress of a run, in order. `run-end` is only sent when the run succeeds. */
export type RunEvent = RunStartEvent | WorkflowStartEvent | WorkflowEndEvent | RunEndEvent

/** Options of {@link runSequential}. */
export interface RunOptions {
  /** Values to save by key before the first step. */
  inputs?: Record<string, unknown>
  /** How many times to run the whole sequence; 1 by default. */
  iterations?: number
  /** A context to use and leave open; a new one, shut down at the end, by default. */
  context?: WorkflowContext
  /** Stops the run between steps. */
  signal?: AbortSignal
  /** Receives progress events, synchronously. */
  onEvent?: (event: RunEvent) => void
}

export type { SavedValue, StepOutputs }

/**
 * Runs `workflows` in order, `iterations` times, and gives back every output they saved, by key,
 * as it stands after the last step.
 *
 * @throws {WorkflowError} when a step fails, naming the workflow, iteration and key.
 * @throws {AbortError} when `signal` aborts.
 */
export async function runSequential(
  workflows: Workflow[],
  options: RunOptions = {},
): Promise<Record<string, unknown>> {
  const plan = checkWorkflows(workflows)
  const iterations = checkIterations(options.iterations)
  throwIfAborted(options.signal)
  if (options.context?.closed) throw new ContextClosedError(options.context.runId)

  const context = options.context ?? (await WorkflowContext.create())
  const run = new SequentialRun(plan, context, options)
  try {
    return await run.execute(iterations)
  } finally {
    await run.close()
    if (options.context === undefined) await context.shutdown()
  }
}

/** One call of runSequential: its context, its child processes and the keys it saved. */
class SequentialRun {
  readonly #workflows: readonly Workflow[]
  readonly #context: WorkflowContext
  readonly #options: RunOptions
  readonly #signal: AbortSignal
  readonly #workers = new Map<Workflow, WorkerProcess>()
  readonly #outputKeys = new Set<string>()

  constructor(workflows: readonly Workflow[], context: WorkflowContext, options: RunOptions) {
    this.#workflows = workflows
    this.#context = context
    this.#options = options
    this.#signal = options.signal ?? new AbortController().signal
  }

  async execute(iterations: number): Promise<Record<string, unknown>> {
    const started = performance.now()
    const { runId } = this.#context
    this.#emit({ type: 'run-start', runId, iterations })

    for (const [key, value] of Object.entries(this.#options.inputs ?? {})) {
      await this.#context.save(key, value)
    }
    for (let iteration = 0; iteration < iterations; iteration += 1) {
      for (const [index, workflow] of this.#workflows.entries()) {
        throwIfAborted(this.#options.signal)
        await this.#step(workflow, iteration, index)
      }
    }
    throwIfAborted(this.#options.signal)

    const outputs = await this.#outputs()
    this.#emit({ type: 'run-end', runId, durationMs: performance.now() - started })
    return outputs
  }

  /** Ends every child process; waits until each has exited. */
  async close(): Promise<void> {
    const workers = [...this.#workers.values()]
    this.#workers.clear()
    await Promise.all(workers.map((worker) => worker.close()))
  }

  async #step(workflow: Workflow, iteration: number, index: number): Promise<void> {
    const name = workflow.name
    this.#emit({ type: 'workflow-start', workflow: name, iteration, index })
    const started = performance.now()

    const saved = await this.#runStep(workflow, iteration).catch((error: unknown) => {
      throw this.#failure(workflow, iteration, error)
    })

    for (const { key } of saved) this.#outputKeys.add(key)
    const durationMs = performance.now() - started
    this.#emit({ type: 'workflow-end', workflow: name, iteration, index, durationMs, saved })
  }

  #runStep(workflow: Workflow, iteration: number): Promise<SavedValue[]> {
    debug('run %s: workflow %s, iteration %d', this.#context.runId, workflow.name, iteration)
    if ('run' in workflow) return this.#runInProcess(workflow, iteration)
    return this.#runInWorker(workflow, iteration)
  }

  async #runInProcess(workflow: FunctionWorkflow, iteration: number): Promise<SavedValue[]> {
    const context = this.#context
    const inputs = await loadInputs(context, workflow.inputs)

    const info = { workflow: workflow.name, iteration, context, signal: this.#signal }
    const returned = await withCurrentContext(context, () => workflow.run(inputs, info))
    return saveOutputs(context, workflow.outputs, returned)
  }

  async #runInWorker(workflow: ModuleWorkflow, iteration: number): Promise<SavedValue[]> {
    let worker = this.#workers.get(workflow)
    if (worker === undefined) {
      const spec = {
        workflow: workflow.name, module: modulePath(workflow), export: workflow.export ?? 'default',
      }
      worker = await WorkerProcess.start(spec, this.#context)
      this.#workers.set(workflow, worker)
    }

    const ports = { inputs: workflow.inputs ?? [], outputs: workflow.outputs }
    return worker.run(iteration, ports, this.#options.signal)
  }

  #failure(workflow: Workflow, iteration: number, error: unknown): Error {
    if (this.#signal.aborted) {
      return error instanceof AbortError ? error : new AbortError(undefined, { cause: error })
    }

    const details = { workflow: workflow.name, iteration }
    if (error instanceof PortFailure || error instanceof WorkerStepError) {
      const cause = error instanceof PortFailure ? error.cause ?? error : error.cause
      return new WorkflowError({ ...details, key: error.key, cause }, error.message)
    }
    return new WorkflowError({ ...details, cause: error }, messageOf(error))
  }

  async #outputs(): Promise<Record<string, unknown>> {
    const outputs: Record<string, unknown> = {}
    for (const key of this.#outputKeys) {
      // A later step may have deleted what an earlier one saved.
      if (await this.#context.has(key)) outputs[key] = await this.#context.load(key)
    }
    return outputs
  }

  #emit(event: RunEvent): void {
    this.#options.onEvent?.(event)
  }
}

function checkWorkflows(workflows: unknown): Workflow[] {
  if (!Array.isArray(workflows)) {
    throw new InvalidArgumentError('workflows must be an array of workflows')
  }
  workflows.forEach(checkWorkflow)
  return workflows as Workflow[]
}

function checkWorkflow(workflow: unknown, index: number): void {
  const where = `workflows[${index}]`
  if (typeof workflow !== 'object' || workflow === null) {
    throw new InvalidArgumentError(`${where} must be an object`)
  }

  const { name, run, module, inputs, outputs } = workflow as Record<string, unknown>
  if (typeof name !== 'string' || name === '') {
    throw new InvalidArgumentError(`${where}.name must be a non-empty string`)
  }
  if ((typeof run === 'function') === (typeof module === 'string')) {
    throw new InvalidArgumentError(`workflow "${name}" needs either a run function or a module ` +
      'path, not both')
  }
  checkKeys(inputs, `workflow "${name}": inputs`)
  checkKeys(outputs, `workflow "${name}": outputs`)
  if (typeof module === 'string') modulePath(workflow as ModuleWorkflow)
}

function checkKeys(keys: unknown, what: string): void {
  if (keys === undefined) return

  const valid = Array.isArray(keys) && keys.every((key) => typeof key === 'string' && key !== '')
  if (!valid) throw new InvalidArgumentError(`${what} must be an array of non-empty keys`)
}

/** The absolute path of a module workflow's module; it must exist. */
function modulePath(workflow: ModuleWorkflow): string {
  const { module } = workflow
  const path = module.startsWith('file:') ? fileURLToPath(module) : resolve(module)
  if (!existsSync(path)) {
    throw new InvalidArgumentError(`workflow "${workflow.name}": module not found at ${path}`)
  }
  return path
}

function checkIterations(iterations: unknown): number {
  if (iterations === undefined) return 1
  if (Number.isSafeInteger(iterations) && (iterations as number) >= 0) return iterations as number
  throw new InvalidArgumentError(`iterations must be a whole number >= 0, got ${iterations}`)
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason })
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
