/**
 * The messages between `runSequential` and a module workflow's child process.
 *
 * Only the run id, keys, module paths and small status records travel here; values never do:
 * the child loads its inputs and saves its outputs through the shared context itself. Every
 * message is published on the `shmflow:worker-message` diagnostics channel with its size, so
 * that this promise can be observed and tested.
 *
 * @module
 * @internal
 */

import { channel } from 'node:diagnostics_channel'

import { PortFailure, type SavedValue } from './ports.js'

/** The name of the diagnostics channel that sees every message to and from a worker. */
export const WORKER_MESSAGE_CHANNEL = 'shmflow:worker-message'

/** What the `shmflow:worker-message` channel publishes. */
export interface WorkerMessageEvent {
  /** The name of the module workflow the child runs. */
  workflow: string
  /** Which way the message went. */
  direction: 'to-worker' | 'from-worker'
  /** The message itself. */
  message: ToWorker | FromWorker
  /** The size of the message as JSON, in bytes. */
  bytes: number
}

/** Parent to child, first: attach to the run and import the module. */
export interface InitMessage {
  /** The kind of message. */
  type: 'init'
  /** The run to attach to. */
  runId: string
  /** The root the run lives under. */
  root: string
  /** The workflow's name, for messages. */
  workflow: string
  /** The absolute path of the module. */
  module: string
  /** The name of the export that is the step. */
  export: string
}

/** Parent to child: run one step, loading `inputs` and saving `outputs` by key. */
export interface RunMessage {
  /** The kind of message. */
  type: 'run'
  /** The iteration, from 0. */
  iteration: number
  /** The keys of the input ports. */
  inputs: string[]
  /** The keys of the declared output ports; `null` saves every returned key. */
  outputs: string[] | null
}

/** Parent to child: abort the running step's signal. */
export interface AbortMessage {
  /** The kind of message. */
  type: 'abort'
}

/** Child to parent: attached and imported; ready for steps. */
export interface ReadyMessage {
  /** The kind of message. */
  type: 'ready'
}

/** Child to parent: the step finished; what it saved, by key. */
export interface DoneMessage {
  /** The kind of message. */
  type: 'done'
  /** The iteration, from 0. */
  iteration: number
  /** The key, tier and size of each saved output. */
  saved: SavedValue[]
}

/** Child to parent: starting or the step failed. */
export interface FailedMessage {
  /** The kind of message. */
  type: 'failed'
  /** Whether attaching and importing (`init`) or a step (`run`) failed. */
  stage: 'init' | 'run'
  /** What went wrong. */
  failure: SerializedFailure
}

/** Parent to child. */
export type ToWorker = InitMessage | RunMessage | AbortMessage

/** Child to parent. */
export type FromWorker = ReadyMessage | DoneMessage | FailedMessage

/** An error, flattened for IPC. */
export interface SerializedError {
  /** The error's name, such as `RangeError`. */
  name: string
  /** The error's message. */
  message: string
  /** Its `code`, when it has a string one. */
  code?: string
  /** Its `key`, when it has one (shmflow's errors do). */
  key?: string
  /** Its stack, as printed in the child. */
  stack?: string
}

/** A failure of a step in the child: what happened, at which key, and the original error. */
export interface SerializedFailure {
  /** What happened, for the WorkflowError's message. */
  message: string
  /** The key involved, when there is one. */
  key?: string
  /** The original error. */
  cause: SerializedError
}

const messages = channel(WORKER_MESSAGE_CHANNEL)

/** Publishes a message on the diagnostics channel, when anyone listens. */
export function observeMessage(
  workflow: string,
  direction: WorkerMessageEvent['direction'],
  message: ToWorker | FromWorker,
): void {
  if (!messages.hasSubscribers) return

  const bytes = Buffer.byteLength(JSON.stringify(message))
  messages.publish({ workflow, direction, message, bytes } satisfies WorkerMessageEvent)
}

/** Flattens a step's failure; a port failure keeps its key and its own cause. */
export function serializeFailure(error: unknown): SerializedFailure {
  if (error instanceof PortFailure) {
    return { message: error.message, key: error.key, cause: serializeError(error.cause ?? error) }
  }
  return { message: serializeError(error).message, cause: serializeError(error) }
}

/** Rebuilds an error from its flattened form, with its name, code, key and the child's stack. */
export function reviveError(data: SerializedError): Error {
  const error = new Error(data.message)
  Object.defineProperty(error, 'name', { value: data.name, enumerable: false })
  if (data.code !== undefined) Object.assign(error, { code: data.code })
  if (data.key !== undefined) Object.assign(error, { key: data.key })
  if (data.stack !== undefined) error.stack = data.stack
  return error
}

function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) }

  const { code, key } = error as { code?: unknown; key?: unknown }
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof key === 'string' ? { key } : {}),
    ...(error.stack === undefined ? {} : { stack: error.stack }),
  }
}
