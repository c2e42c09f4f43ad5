/**
 * The demo's side-by-side measurement: hand the same images to another process through shmflow
 * and the common way (base64 strings inside a JSON message over the child's IPC channel), time
 * both from the first byte sent to the answer, and check that the child hashed the very bytes the
 * parent holds. A wrong digest is an error, never a number in the table.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { WorkflowContext } from '../index.js'
import type { RgbTensor } from './images.js'
import { demoModule } from './paths.js'

/** A request to the checker child: rebuild these images, hash every byte, answer the digest. */
export type CheckRequest =
  | { id: number; kind: 'base64-json'; images: Array<{ shape: number[]; data: string }> }
  | { id: number; kind: 'shmflow'; runId: string; root: string; keys: string[] }

/** The checker's answer: the SHA-256 of all image bytes in order, and how many there were. */
export type CheckReply =
  | { id: number; digest: string; bytes: number }
  | { id: number; error: string }

/** One handoff of a set of images to another process, measured both ways (medians). */
export interface HandoffTiming {
  /** Pixel bytes handed over. */
  bytes: number
  /** How many times each way was timed; the times below are the medians. */
  repeats: number
  /** save into the context, a message with the keys, the child's load and hash, its answer. */
  shmflowMs: number
  /** base64 encoding, the JSON message with the pixels, the child's decode and hash, its answer. */
  base64JsonMs: number
  /** Size of the JSON text of the message that carried the base64 pixels. */
  base64JsonBytes: number
}

const HANDOFF_KEY_PREFIX = 'handoff/'

/**
 * Each way is timed this many times, in alternating order, and the median kept: a single timing
 * on a busy machine can be off by a factor of two (a garbage collection, another process).
 */
const REPEATS = 3

/** Measures handoffs to one long-lived checker child; close it with `close` or `await using`. */
export class HandoffBench implements AsyncDisposable {
  readonly #context: WorkflowContext
  readonly #checker: CheckerProcess

  private constructor(context: WorkflowContext, checker: CheckerProcess) {
    this.#context = context
    this.#checker = checker
  }

  /**
   * Forks the checker child and warms both paths up once on a small image, so that neither
   * measurement pays for process start, attaching or a cold JIT.
   */
  static async start(context: WorkflowContext): Promise<HandoffBench> {
    const checker = await CheckerProcess.fork(demoModule('handoff-checker'))
    const bench = new HandoffBench(context, checker)

    await bench.measure([warmUpImage()], 1)
    return bench
  }

  /**
   * Hands `images` over both ways, `REPEATS` times each, alternating which goes first, and
   * returns the median times; rejects if any handoff delivered other bytes.
   */
  async measure(images: RgbTensor[], repeats = REPEATS): Promise<HandoffTiming> {
    const expected = digestOf(images)
    const shmflow: number[] = []
    const base64Json: Array<{ ms: number; messageBytes: number }> = []

    for (let repeat = 0; repeat < repeats; repeat++) {
      if (repeat % 2 === 1) base64Json.push(await this.#timeBase64Json(images, expected))
      shmflow.push(await this.#timeShmflow(images, expected))
      if (repeat % 2 === 0) base64Json.push(await this.#timeBase64Json(images, expected))
    }
    return {
      bytes: images.reduce((sum, image) => sum + image.data.byteLength, 0),
      repeats,
      shmflowMs: median(shmflow),
      base64JsonMs: median(base64Json.map((timing) => timing.ms)),
      base64JsonBytes: base64Json[0].messageBytes,
    }
  }

  /** Stops the checker child. The context stays open: it belongs to the caller. */
  async close(): Promise<void> {
    await this.#checker.close()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async #timeShmflow(images: RgbTensor[], expected: string): Promise<number> {
    const keys = images.map((_, index) => `${HANDOFF_KEY_PREFIX}${index}`)
    const start = performance.now()

    for (const [index, image] of images.entries()) {
      await this.#context.save(keys[index], image)
    }
    const { runId, root } = this.#context
    const reply = await this.#checker.request({ kind: 'shmflow', runId, root, keys })
    const ms = performance.now() - start

    checkDigest('shmflow', reply, expected)
    await Promise.all(keys.map((key) => this.#context.delete(key)))
    return ms
  }

  async #timeBase64Json(images: RgbTensor[], expected: string) {
    const start = performance.now()

    const encoded = images.map((image) => ({ shape: image.shape, data: base64Of(image.data) }))
    const reply = await this.#checker.request({ kind: 'base64-json', images: encoded })
    const ms = performance.now() - start

    checkDigest('base64 JSON', reply, expected)
    return { ms, messageBytes: jsonMessageBytes(encoded) }
  }
}

/** A forked child answering `CheckRequest`s one at a time, matched to replies by id. */
class CheckerProcess {
  readonly #child: ChildProcess
  readonly #pending = new Map<number, (reply: CheckReply | Error) => void>()
  #nextId = 1

  private constructor(child: ChildProcess) {
    this.#child = child
    child.on('message', (reply: CheckReply) => this.#settle(reply.id, reply))
    child.on('exit', (code, signal) => this.#failAll(exitError(code, signal)))
    child.on('error', (error) => this.#failAll(error))
  }

  /** Forks `module` and resolves once the child says it is ready. */
  static fork(module: string): Promise<CheckerProcess> {
    const stdio = ['ignore', 'inherit', 'inherit', 'ipc'] as const
    const child = fork(module, [], { serialization: 'json', stdio: [...stdio] })

    return new Promise((resolve, reject) => {
      child.once('message', () => resolve(new CheckerProcess(child)))
      child.once('error', reject)
      child.once('exit', (code, signal) => reject(exitError(code, signal)))
    })
  }

  /** Sends one request and resolves with its reply; rejects if the child fails or exits. */
  request(request: DistributiveOmit<CheckRequest, 'id'>): Promise<CheckReply> {
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (reply) => (reply instanceof Error ? reject(reply) : resolve(reply)))
      this.#child.send({ ...request, id } as CheckRequest, (error) => {
        if (error) this.#settle(id, error)
      })
    })
  }

  /** Disconnects the child (it closes its contexts and exits) and waits for it to exit. */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return

    const exited = new Promise((resolve) => this.#child.once('exit', resolve))
    this.#child.disconnect()
    await exited
  }

  #settle(id: number, reply: CheckReply | Error): void {
    this.#pending.get(id)?.(reply)
    this.#pending.delete(id)
  }

  #failAll(error: Error): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id, error)
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never

function checkDigest(method: string, reply: CheckReply, expected: string): void {
  if ('error' in reply) {
    throw new Error(`the ${method} handoff failed in the checker process: ${reply.error}`)
  }
  if (reply.digest !== expected) {
    throw new Error(`the ${method} handoff delivered other bytes than were sent (SHA-256 differs)`)
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

function digestOf(images: RgbTensor[]): string {
  const hash = createHash('sha256')
  for (const image of images) hash.update(image.data)
  return hash.digest('hex')
}

function base64Of(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64')
}

/** The size of the message's JSON text; base64 needs no escaping, so it is counted apart. */
function jsonMessageBytes(encoded: Array<{ shape: number[]; data: string }>): number {
  const skeleton = encoded.map((image) => ({ shape: image.shape, data: '' }))
  const text = encoded.reduce((sum, image) => sum + image.data.length, 0)
  const envelope = { kind: 'base64-json', images: skeleton, id: 1 }
  return Buffer.byteLength(JSON.stringify(envelope)) + text
}

function exitError(code: number | null, signal: NodeJS.Signals | null): Error {
  return new Error(`the handoff checker process exited early (${signal ?? `code ${code}`})`)
}

function warmUpImage(): RgbTensor {
  const data = new Uint8Array(64 * 64 * 3).map((_, index) => index % 251)
  return { data, shape: [64, 64, 3], dtype: 'uint8' }
}
