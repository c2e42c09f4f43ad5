/**
 * The registry of this process: the contexts it has open, by run id, and the context of the
 * workflow step that is running (through `AsyncLocalStorage`, so code reaches it without a
 * global and concurrent runs never see each other's context).
 *
 * @module
 */

import { AsyncLocalStorage } from 'node:async_hooks'

import { NoCurrentContextError } from './errors.js'
import type { WorkflowContext } from './context.js'

const openContexts = new Map<string, Set<WorkflowContext>>()
const stepContext = new AsyncLocalStorage<WorkflowContext>()

/** Records an open context. Called by the context itself when it is created or attached. */
export function registerContext(context: WorkflowContext): void {
  const contexts = openContexts.get(context.runId) ?? new Set()
  contexts.add(context)
  openContexts.set(context.runId, contexts)
}

/** Forgets a context. Called by the context itself when it is shut down. */
export function unregisterContext(context: WorkflowContext): void {
  const contexts = openContexts.get(context.runId)
  contexts?.delete(context)
  if (contexts?.size === 0) openContexts.delete(context.runId)
}

/**
 * An open context of this process for the run, or `undefined`. Prefers the run's owner when this
 * process holds both the owner and an attached context of the same run.
 */
export function findContext(runId: string): WorkflowContext | undefined {
  const contexts = [...(openContexts.get(runId) ?? [])]
  return contexts.find((context) => context.isOwner) ?? contexts[0]
}

/** Every context this process has open, in the order they were opened. */
export function listContexts(): WorkflowContext[] {
  return [...openContexts.values()].flatMap((contexts) => [...contexts])
}

/**
 * The context of the workflow step that is running, in this process or in a module workflow's
 * child process.
 *
 * @throws {NoCurrentContextError} outside a workflow step of `runSequential`.
 */
export function currentContext(): WorkflowContext {
  const context = stepContext.getStore()
  if (context === undefined) throw new NoCurrentContextError()
  return context
}

/** Runs `step` with `context` as its {@link currentContext}. */
export function withCurrentContext<T>(context: WorkflowContext, step: () => T): T {
  return stepContext.run(context, step)
}
