/**
 * The errors of shmflow.
 *
 * Every failure the library reports is one of these classes, each with a stable `code`
 * (`ERR_SHMFLOW_*`) that callers can switch on instead of parsing messages. Messages say what
 * happened, to which key or run, and what to do about it. Errors raised by the native addon are
 * turned into these classes by {@link fromNativeError}, keeping the native error as `cause`.
 *
 * @module
 */

/** The stable codes of every {@link ShmflowError} and of {@link UnsupportedValueError}. */
export type ShmflowErrorCode =
  | 'ERR_SHMFLOW_KEY_NOT_FOUND'
  | 'ERR_SHMFLOW_RUN_NOT_FOUND'
  | 'ERR_SHMFLOW_RUN_ALIVE'
  | 'ERR_SHMFLOW_CONTEXT_CLOSED'
  | 'ERR_SHMFLOW_NO_SPACE'
  | 'ERR_SHMFLOW_VALUE_TOO_LARGE'
  | 'ERR_SHMFLOW_CORRUPT_SEGMENT'
  | 'ERR_SHMFLOW_INVALID_ARGUMENT'
  | 'ERR_SHMFLOW_IO'
  | 'ERR_SHMFLOW_UNSUPPORTED_VALUE'
  | 'ERR_SHMFLOW_UNSUPPORTED_PLATFORM'
  | 'ERR_SHMFLOW_NO_CURRENT_CONTEXT'
  | 'ERR_SHMFLOW_WORKFLOW'

/** What a thrown error is about, when the caller knows it better than the native message. */
export interface ErrorSubject {
  key?: string
  runId?: string
}

/**
 * The base class of every shmflow failure except {@link UnsupportedValueError} (a `TypeError`)
 * and {@link AbortError}. `code` never changes between releases for the same kind of failure.
 */
export class ShmflowError extends Error {
  /** The stable, machine-readable kind of failure. */
  readonly code: ShmflowErrorCode

  constructor(code: ShmflowErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }

  /** The name of the class, such as `KeyNotFoundError`, as shown in stack traces. */
  override get name(): string {
    return this.constructor.name
  }
}

/** No value is stored under the key in the run. `key` and `runId` say where it was looked for. */
export class KeyNotFoundError extends ShmflowError {
  /** The key that holds no value. */
  readonly key: string
  /** The run that was searched. */
  readonly runId: string

  constructor(key: string, runId: string, options?: ErrorOptions) {
    const message = `no value is stored under key "${key}" in run ${runId}: ` +
      'save it first, or check the key against keys()'
    super('ERR_SHMFLOW_KEY_NOT_FOUND', message, options)
    this.key = key
    this.runId = runId
  }
}

/** The run does not exist for this user (never created, already shut down, or a bad id). */
export class RunNotFoundError extends ShmflowError {
  /** The run id that was not found. */
  readonly runId: string

  constructor(runId: string, detail = `run ${runId} does not exist for this user`,
    options?: ErrorOptions) {
    const hint = 'check the run id, and that the process that created the run has not shut it down'
    super('ERR_SHMFLOW_RUN_NOT_FOUND', `${detail}; ${hint}`, options)
    this.runId = runId
  }
}

/** The run's owner lives, so it is not removed without `force`. */
export class RunAliveError extends ShmflowError {
  /** The run that is alive. */
  readonly runId: string

  constructor(runId: string, detail: string, options?: ErrorOptions) {
    super('ERR_SHMFLOW_RUN_ALIVE', detail, options)
    this.runId = runId
  }
}

/** The context was shut down; create or attach a new one to go on. */
export class ContextClosedError extends ShmflowError {
  /** The run whose context is closed. */
  readonly runId: string

  constructor(runId: string, options?: ErrorOptions) {
    const message = `the context of run ${runId} is closed: it was shut down in this process; ` +
      'create or attach a new context to go on'
    super('ERR_SHMFLOW_CONTEXT_CLOSED', message, options)
    this.runId = runId
  }
}

/** The value did not fit: the shared-memory filesystem is full or over its limit. */
export class NoSpaceError extends ShmflowError {
  /** The key being saved. */
  readonly key: string | undefined

  constructor(message: string, key?: string, options?: ErrorOptions) {
    super('ERR_SHMFLOW_NO_SPACE', `${message}: free space or store a smaller value`, options)
    this.key = key
  }
}

/** The value is larger than this machine's physical memory; nothing was allocated for it. */
export class ValueTooLargeError extends ShmflowError {
  /** The key being saved. */
  readonly key: string | undefined

  constructor(message: string, key?: string, options?: ErrorOptions) {
    super('ERR_SHMFLOW_VALUE_TOO_LARGE', `${message}; split it into smaller values`, options)
    this.key = key
  }
}

/** A stored segment failed validation; it was not read past its checked bounds. */
export class CorruptSegmentError extends ShmflowError {
  /** The key (or exported file) whose segment is damaged, when known. */
  readonly key: string | undefined

  constructor(message: string, key?: string, options?: ErrorOptions) {
    super('ERR_SHMFLOW_CORRUPT_SEGMENT', message, options)
    this.key = key
  }
}

/** An argument is outside what shmflow accepts (a key, a run id, an option). */
export class InvalidArgumentError extends ShmflowError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SHMFLOW_INVALID_ARGUMENT', message, options)
  }
}

/** An operating-system call failed; the message says what was being done. */
export class ShmflowIoError extends ShmflowError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SHMFLOW_IO', message, options)
  }
}

/** The current platform has no shared-memory backend yet. Thrown when shmflow is loaded. */
export class UnsupportedPlatformError extends ShmflowError {
  /** `process.platform` of this process. */
  readonly platform: string

  constructor(platform: string) {
    const message = platform === 'win32'
      ? 'Windows is not supported yet: shmflow runs on Linux and macOS'
      : `platform ${platform} is not supported: shmflow runs on Linux and macOS`
    super('ERR_SHMFLOW_UNSUPPORTED_PLATFORM', message)
    this.platform = platform
  }
}

/** {@link currentContext} was called outside a workflow step of `runSequential`. */
export class NoCurrentContextError extends ShmflowError {
  constructor() {
    const message = 'no current context: currentContext() works only inside a workflow step ' +
      'of runSequential; pass a context explicitly elsewhere'
    super('ERR_SHMFLOW_NO_CURRENT_CONTEXT', message)
  }
}

/** Where a {@link WorkflowError} happened. */
export interface WorkflowErrorDetails {
  /** The workflow's name. */
  workflow: string
  /** The iteration, from 0. */
  iteration: number
  /** The key involved, when the failure is about one input or output. */
  key?: string | undefined
  /** The original failure. */
  cause?: unknown
}

/**
 * A workflow step of `runSequential` failed. Names the workflow, the iteration (from 0) and,
 * when one is involved, the key; the original failure is the `cause`.
 */
export class WorkflowError extends ShmflowError {
  /** The name of the workflow that failed. */
  readonly workflow: string
  /** The iteration it failed in, from 0. */
  readonly iteration: number
  /** The key involved, when the failure is about one input or output. */
  readonly key: string | undefined

  constructor(details: WorkflowErrorDetails, reason: string) {
    const where = `workflow "${details.workflow}" failed in iteration ${details.iteration}`
    const what = details.key === undefined ? '' : ` (key "${details.key}")`
    super('ERR_SHMFLOW_WORKFLOW', `${where}${what}: ${reason}`, { cause: details.cause })
    this.workflow = details.workflow
    this.iteration = details.iteration
    this.key = details.key
  }
}

/**
 * A value that shmflow cannot store without changing it: a function, a symbol, an instance of a
 * class that structured cloning would flatten into a plain object, or an invalid tensor. It is a
 * `TypeError`, so it is not an instance of {@link ShmflowError}, but it has a stable `code` too.
 */
export class UnsupportedValueError extends TypeError {
  /** The stable code of this failure. */
  readonly code = 'ERR_SHMFLOW_UNSUPPORTED_VALUE' as const
  /** The key the value was being saved under. */
  readonly key: string
  /** The offending type, such as `function`, `symbol` or `class Foo`. */
  readonly valueType: string
  /** Where the offending part sits in the value, such as `.layers[2].forward`; '' for the root. */
  readonly path: string

  constructor(key: string, valueType: string, path: string, reason: string) {
    const where = path === '' ? 'the value' : `the value at ${path}`
    super(`cannot save key "${key}": ${where} is ${article(valueType)}; ${reason}`)
    this.key = key
    this.valueType = valueType
    this.path = path
  }

  /** Always `UnsupportedValueError`. */
  override get name(): string {
    return 'UnsupportedValueError'
  }
}

/** A run was stopped through its `AbortSignal`. Same `name` and `code` as Node's own. */
export class AbortError extends Error {
  /** Always `ABORT_ERR`, as for Node's own aborts. */
  readonly code = 'ABORT_ERR' as const

  constructor(message = 'the operation was aborted', options?: ErrorOptions) {
    super(message, options)
  }

  /** Always `AbortError`. */
  override get name(): string {
    return 'AbortError'
  }
}

function article(valueType: string): string {
  if (valueType.startsWith('class ')) return `an instance of ${valueType}`
  return /^[aeiou]/i.test(valueType) ? `an ${valueType}` : `a ${valueType}`
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function codeOf(error: unknown): unknown {
  const isObject = typeof error === 'object' && error !== null
  return isObject ? (error as { code?: unknown }).code : undefined
}

/**
 * Turns an error thrown by the native addon into the matching {@link ShmflowError} subclass,
 * keeping it as `cause`. Errors without a shmflow code are returned unchanged.
 */
export function fromNativeError(error: unknown, subject: ErrorSubject = {}): unknown {
  const options = { cause: error }
  const message = messageOf(error)
  const { key, runId = '(unknown run)' } = subject
  switch (codeOf(error)) {
    case 'ERR_SHMFLOW_KEY_NOT_FOUND':
      return new KeyNotFoundError(key ?? '(unknown key)', runId, options)
    case 'ERR_SHMFLOW_RUN_NOT_FOUND':
      return new RunNotFoundError(runId, message, options)
    case 'ERR_SHMFLOW_RUN_ALIVE':
      return new RunAliveError(runId, message, options)
    case 'ERR_SHMFLOW_CONTEXT_CLOSED':
      return new ContextClosedError(runId, options)
    case 'ERR_SHMFLOW_NO_SPACE':
      return new NoSpaceError(message, key, options)
    case 'ERR_SHMFLOW_VALUE_TOO_LARGE':
      return new ValueTooLargeError(message, key, options)
    case 'ERR_SHMFLOW_CORRUPT_SEGMENT':
      return new CorruptSegmentError(message, key, options)
    case 'ERR_SHMFLOW_INVALID_ARGUMENT':
      return new InvalidArgumentError(message, options)
    case 'ERR_SHMFLOW_IO':
      return new ShmflowIoError(message, options)
    default:
      return unknownNativeError(error, message)
  }
}

/** A code this version does not know yet keeps its code, as a plain {@link ShmflowError}. */
function unknownNativeError(error: unknown, message: string): unknown {
  const code = codeOf(error)
  if (typeof code !== 'string' || !code.startsWith('ERR_SHMFLOW_')) return error
  return new ShmflowError(code as ShmflowErrorCode, message, { cause: error })
}

/** Runs a native call, turning its errors into shmflow's classes. */
export function callNative<T>(operation: () => T, subject: ErrorSubject): T {
  try {
    return operation()
  } catch (error) {
    throw fromNativeError(error, subject)
  }
}
