/**
 * Ports: a workflow's declared inputs and outputs, bound to keys of the context.
 *
 * Input ports load their values from the context before a step runs; output ports save what the
 * step returned straight back to it. The same binding runs in the parent for in-process
 * workflows and in the child process for module workflows, so data never travels in messages.
 *
 * @module
 * @internal
 */

import type { WorkflowContext } from './context.js'

/** One value a step saved: its key, the tier it went to and its size. */
export interface SavedValue {
  /** The key saved. */
  key: string
  /** The tier it went to: `shm`, `mmap-file` or `disk`. */
  tier: string
  /** The exact size of its payload, in bytes. */
  bytes: number
}

/** What a step returns: its outputs by key, or nothing. */
export type StepOutputs = Record<string, unknown>

/** A failure at one port: the key involved, what went wrong, and the original error as cause. */
export class PortFailure extends Error {
  readonly key: string

  constructor(key: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.key = key
  }

  override get name(): string {
    return 'PortFailure'
  }
}

/** Loads every input port's value by key. */
export async function loadInputs(
  context: WorkflowContext,
  keys: readonly string[] = [],
): Promise<Record<string, unknown>> {
  const inputs: Record<string, unknown> = {}
  for (const key of keys) {
    try {
      inputs[key] = await context.load(key)
    } catch (error) {
      throw new PortFailure(key, `input "${key}" could not be loaded: ${messageOf(error)}`,
        { cause: error })
    }
  }
  return inputs
}

/**
 * Saves what a step returned. With declared outputs, exactly those keys must be returned;
 * without, every returned key is saved.
 */
export async function saveOutputs(
  context: WorkflowContext,
  declared: readonly string[] | undefined,
  returned: unknown,
): Promise<SavedValue[]> {
  const outputs = checkOutputs(declared, returned)

  const saved: SavedValue[] = []
  for (const [key, value] of Object.entries(outputs)) {
    try {
      const { tier, bytes } = await context.save(key, value)
      saved.push({ key, tier, bytes })
    } catch (error) {
      throw new PortFailure(key, `output "${key}" could not be saved: ${messageOf(error)}`,
        { cause: error })
    }
  }
  return saved
}

function checkOutputs(declared: readonly string[] | undefined, returned: unknown): StepOutputs {
  if (returned === undefined || returned === null) returned = {}
  if (typeof returned !== 'object' || Array.isArray(returned)) {
    const type = Array.isArray(returned) ? 'an array' : typeof returned
    throw new TypeError(`the step returned ${type}; return an object of outputs by key, or nothing`)
  }

  const outputs = returned as StepOutputs
  if (declared === undefined) return outputs

  for (const key of declared) {
    if (!(key in outputs)) throw new PortFailure(key, `declared output "${key}" was not returned`)
  }
  for (const key of Object.keys(outputs)) {
    if (!declared.includes(key)) {
      const list = declared.map((name) => `"${name}"`).join(', ')
      throw new PortFailure(key, `returned key "${key}" is not a declared output (${list})`)
    }
  }
  return outputs
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
