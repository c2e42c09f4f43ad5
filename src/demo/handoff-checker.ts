/**
 * The receiving end of the demo's handoff comparison, run as a forked child process.
 *
 * It receives the same images in one of two ways and does the same work for both: rebuild every
 * byte, hash all of them with SHA-256 and answer with the digest, so that the parent both times
 * the handoff and checks that nothing was lost.
 * - `base64-json`: the pixels are base64 strings inside the JSON message itself;
 * - `shmflow`: the message holds only a run id and keys; the pixels are loaded from the run.
 */
import { createHash, type Hash } from 'node:crypto'
import { WorkflowContext } from '../index.js'
import type { CheckReply, CheckRequest } from './handoff.js'

const contexts = new Map<string, Promise<WorkflowContext>>()

process.on('message', (message: CheckRequest) => {
  answer(message).then(
    (reply) => process.send?.(reply),
    (error: unknown) => process.send?.({ id: message.id, error: String(error) }),
  )
})

process.on('disconnect', () => {
  void closeContexts()
})

process.send?.({ ready: true })

async function answer(request: CheckRequest): Promise<CheckReply> {
  const hash = createHash('sha256')
  const bytes =
    request.kind === 'base64-json'
      ? hashBase64Json(request.images, hash)
      : await hashFromRun(request.runId, request.root, request.keys, hash)

  return { id: request.id, digest: hash.digest('hex'), bytes }
}

function hashBase64Json(images: Array<{ shape: number[]; data: string }>, hash: Hash): number {
  let bytes = 0
  for (const image of images) {
    const data = Buffer.from(image.data, 'base64')
    checkLength(data.byteLength, image.shape)
    hash.update(data)
    bytes += data.byteLength
  }
  return bytes
}

async function hashFromRun(
  runId: string,
  root: string,
  keys: string[],
  hash: Hash,
): Promise<number> {
  const context = await attached(runId, root)
  let bytes = 0
  for (const key of keys) {
    const image = await context.load<{ data: Uint8Array; shape: number[] }>(key)
    checkLength(image.data.byteLength, image.shape)
    hash.update(image.data)
    bytes += image.data.byteLength
  }
  return bytes
}

function attached(runId: string, root: string): Promise<WorkflowContext> {
  let context = contexts.get(runId)
  if (context === undefined) {
    context = WorkflowContext.attach(runId, { root })
    contexts.set(runId, context)
  }
  return context
}

function checkLength(byteLength: number, shape: number[]): void {
  const expected = shape.reduce((product, size) => product * size, 1)
  if (byteLength !== expected) {
    throw new Error(`received ${byteLength} bytes for a uint8 image of shape [${shape}]`)
  }
}

async function closeContexts(): Promise<void> {
  const closing = [...contexts.values()].map(async (context) => (await context).shutdown())
  await Promise.allSettled(closing)
}
