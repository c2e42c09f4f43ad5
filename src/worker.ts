/**
 * The entry point of a module workflow's child process, forked by `runSequential`.
 *
 * It attaches to the run by id, imports the workflow's module once, and then runs one step per
 * `run` message: loads the inputs by key, calls the module's export with the attached context as
 * its current context, saves the outputs by key, and answers with the keys, tiers and sizes it
 * saved. It never owns the run, so its exit never deletes the run's data. It exits as soon as
 * its parent disconnects or goes away.
 *
 * @module
 * @internal
 */

import { pathToFileURL } from 'node:url'
import { debuglog } from 'node:util'

import { WorkflowContext } from './context.js'
import { loadInputs, saveOutputs, type StepOutputs } from './ports.js'
import { withCurrentContext } from './registry.js'
import type { StepInfo } from './run-sequential.js'
import { serializeFailure, type FromWorker, type ToWorker } from './worker-protocol.js'

const debug = debuglog('shmflow')

type StepFunction = (inputs: Record<string, unknown>, step: StepInfo) => unknown

interface Workflow {
  name: string
  context: WorkflowContext
  step: StepFunction
}

let workflow: Workflow | undefined
let stepAbort: AbortController | undefined

function send(message: FromWorker): void {
  process.send?.(message)
}

async function init(message: Extract<ToWorker, { type: 'init' }>): Promise<void> {
  try {
    const context = await WorkflowContext.attach(message.runId, { root: message.root })
    const step = await importStep(message.module, message.export)
    workflow = { name: message.workflow, context, step }
    send({ type: 'ready' })
  } catch (error) {
    send({ type: 'failed', stage: 'init', failure: serializeFailure(error) })
  }
}

async function run(message: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  const { iteration } = message
  try {
    if (workflow === undefined) throw new Error('the worker received a step before it was ready')
    const saved = await runStep(workflow, message)
    send({ type: 'done', iteration, saved })
  } catch (error) {
    send({ type: 'failed', stage: 'run', failure: serializeFailure(error) })
  } finally {
    stepAbort = undefined
  }
}

async function runStep(current: Workflow, message: Extract<ToWorker, { type: 'run' }>) {
  const { context } = current
  const inputs = await loadInputs(context, message.inputs)

  stepAbort = new AbortController()
  const info: StepInfo = {
    workflow: current.name, iteration: message.iteration, context, signal: stepAbort.signal,
  }
  const returned = await withCurrentContext(context, () => current.step(inputs, info))
  return saveOutputs(context, message.outputs ?? undefined, returned as StepOutputs | undefined)
}

/** Imports the module and picks the export, looking through CommonJS `module.exports` too. */
async function importStep(modulePath: string, name: string): Promise<StepFunction> {
  const namespace = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>

  const step = pickExport(namespace, name)
  if (typeof step !== 'function') {
    throw new TypeError(`module ${modulePath} has no function export "${name}" (found ` +
      `${step === undefined ? 'nothing' : typeof step})`)
  }
  return step as StepFunction
}

function pickExport(namespace: Record<string, unknown>, name: string): unknown {
  const direct = namespace[name]
  if (typeof direct === 'function') return direct

  // A CommonJS module is imported as { default: module.exports }; a compiled ES module inside it
  // keeps its own exports, `default` included, on that object.
  const commonJs = namespace.default
  if (typeof commonJs === 'object' && commonJs !== null) {
    const nested = (commonJs as Record<string, unknown>)[name]
    if (nested !== undefined) return nested
  }
  return direct
}

function onMessage(message: ToWorker): void {
  switch (message.type) {
    case 'init':
      void init(message)
      return
    case 'run':
      void run(message)
      return
    case 'abort':
      stepAbort?.abort(new Error('the run was aborted'))
      return
  }
}

process.on('message', onMessage)

// Without its parent there is no one to answer: leave at once. Attached contexts only close.
process.on('disconnect', () => {
  debug('worker %d: parent disconnected, exiting', process.pid)
  process.exit(0)
})
