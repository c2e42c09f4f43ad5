/**
 * The contenders of the handoff: ways for process A to give a value to process B, who reads
 * every byte of it. Each one is timed from A's first instruction (t0, before any encoding or
 * copy) to B's last (t1, after the checksum), on CLOCK_MONOTONIC in both processes.
 *
 * The phases, for the breakdown in the report: A's work (t0 to tSent), the transit to B (tSent
 * to tRecv), B's decode or load (to tDecoded) and B's read of every byte (to t1).
 */

import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { checksum } from './checksum.js'
import { msBetween, stamp } from './clock.js'
import { formatBytes, nodeValue, type Dataset } from './data.js'
import { NodeConsumer, PythonPeer } from './processes.js'
import type { Tier, TierStore } from './store.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB

/** One handoff, in milliseconds. */
export interface Handoff {
  ms: number
  sendMs: number
  transitMs: number
  decodeMs: number
  readMs: number
}

/** Stamps of one handoff, as taken by A and B. */
interface Stamps {
  t0: string
  tSent: string
  tRecv: string
  tDecoded: string
  t1: string
}

function phases(s: Stamps): Handoff {
  return {
    ms: msBetween(s.t0, s.t1),
    sendMs: msBetween(s.t0, s.tSent),
    transitMs: msBetween(s.tSent, s.tRecv),
    decodeMs: msBetween(s.tRecv, s.tDecoded),
    readMs: msBetween(s.tDecoded, s.t1),
  }
}

function checkCrc(contender: string, dataset: Dataset, crc: number): void {
  if (crc !== dataset.crc) {
    throw new Error(`${contender} delivered ${dataset.id} with CRC ${crc}, expected ${dataset.crc}`)
  }
}

export interface Contender {
  readonly id: string
  readonly label: string
  /** Why a size is not run, or undefined when it is. */
  skip(bytes: number): string | undefined
  /** At most this many trials at a size (a slow contender runs fewer). */
  maxTrials(bytes: number): number
  start(): Promise<void>
  /** Gives A the dataset (outside any timing). */
  prepare(dataset: Dataset): Promise<void>
  /** One timed handoff; B holds the value afterwards, until `release`. */
  handoff(dataset: Dataset): Promise<Handoff>
  /**
   * B lets the value go (and collects garbage when `collect`); A frees what the handoff left
   * behind (key, file, shared-memory block).
   */
  release(collect: boolean): Promise<void>
  /** A forgets the dataset. */
  finish(dataset: Dataset): Promise<void>
  /** The pid of process B, for memory samples; undefined when B is this process. */
  consumerPid(): number | undefined
  stop(): Promise<void>
}

/** Common ground of the contenders whose B is a Node consumer. */
abstract class NodeContender implements Contender {
  abstract readonly id: string
  abstract readonly label: string
  protected consumer: NodeConsumer | undefined

  constructor(protected readonly mode: 'shmflow' | 'base64' | 'advanced' | 'file') {}

  skip(_bytes: number): string | undefined {
    return undefined
  }

  maxTrials(_bytes: number): number {
    return Infinity
  }

  async start(): Promise<void> {
    this.consumer = await NodeConsumer.start(this.mode)
  }

  async prepare(_dataset: Dataset): Promise<void> {}

  async finish(_dataset: Dataset): Promise<void> {}

  abstract handoff(dataset: Dataset): Promise<Handoff>

  async release(collect: boolean): Promise<void> {
    await this.b.request({ op: 'release', collect }, 'released')
  }

  consumerPid(): number | undefined {
    return this.consumer?.pid
  }

  async stop(): Promise<void> {
    await this.consumer?.stop()
  }

  protected get b(): NodeConsumer {
    if (this.consumer === undefined) throw new Error(`${this.id} was not started`)
    return this.consumer
  }

  /**
   * Sends `message` to B and times the whole exchange from `t0`. A's phase ends as the send
   * starts: what Node's IPC does inside send (serializing, writing) counts as transit.
   */
  protected async deliver(dataset: Dataset, t0: string, message: object): Promise<Handoff> {
    const tSent = stamp()
    this.b.send({ op: 'handoff', ...message })
    const received = await this.b.expect('received', `handoff of ${dataset.id}`)
    checkCrc(this.id, dataset, received.crc)
    return phases({ t0, tSent, ...received })
  }
}

/** shmflow: A saves in one tier, sends only the key; B loads it (a view when mapped). */
export class ShmflowContender extends NodeContender {
  readonly id: string
  readonly label: string
  #key: string | undefined
  #count = 0

  constructor(private readonly store: TierStore, private readonly tier: Tier) {
    super('shmflow')
    this.id = `shmflow-${tier}`
    this.label = `shmflow (${tier})`
  }

  override async start(): Promise<void> {
    await super.start()
    await this.b.request({ op: 'attach', runId: this.store.runId, root: this.store.root },
      'attached')
  }

  async handoff(dataset: Dataset): Promise<Handoff> {
    const key = `handoff-${(this.#count += 1)}`
    const value = nodeValue(dataset)
    this.#key = key

    const t0 = stamp()
    await this.store.save(key, value, this.tier)
    return this.deliver(dataset, t0, { key })
  }

  override async release(collect: boolean): Promise<void> {
    await super.release(collect)
    if (this.#key !== undefined) await this.store.delete(this.#key)
    this.#key = undefined
  }
}

/** The common way: the bytes as base64 inside a JSON message over the child's IPC channel. */
export class Base64JsonContender extends NodeContender {
  readonly id = 'base64-json'
  readonly label = 'base64 in JSON over IPC'

  constructor() {
    super('base64')
  }

  override skip(bytes: number): string | undefined {
    // V8 strings hold at most 2^29 - 24 characters; base64 makes 4 of every 3 bytes.
    const characters = Math.ceil(bytes / 3) * 4
    if (characters > 2 ** 29 - 24) {
      return `impossible: base64 of ${formatBytes(bytes)} is ${characters} characters, beyond ` +
        'V8\'s longest string (2^29 - 24)'
    }
    return undefined
  }

  override maxTrials(bytes: number): number {
    if (bytes >= 256 * MiB) return 3
    return bytes >= 64 * MiB ? 5 : Infinity
  }

  async handoff(dataset: Dataset): Promise<Handoff> {
    const t0 = stamp()
    const data = dataset.data.toString('base64')
    return this.deliver(dataset, t0, { data, shape: dataset.shape })
  }
}

/** Node's IPC with `serialization: 'advanced'`: the value cloned by the V8 serializer. */
export class AdvancedIpcContender extends NodeContender {
  readonly id = 'advanced-ipc'
  readonly label = "Node IPC, serialization 'advanced'"

  constructor() {
    super('advanced')
  }

  override maxTrials(bytes: number): number {
    return bytes >= GiB ? 3 : Infinity
  }

  async handoff(dataset: Dataset): Promise<Handoff> {
    const value = nodeValue(dataset)
    const t0 = stamp()
    return this.deliver(dataset, t0, { data: value })
  }
}

/** A temporary file written by A (writeFileSync) and read whole by B (readFileSync). */
export class TempFileContender extends NodeContender {
  readonly id = 'temp-file'
  readonly label = 'temp file'
  #path: string | undefined
  #count = 0

  constructor(private readonly dir: string) {
    super('file')
  }

  async handoff(dataset: Dataset): Promise<Handoff> {
    const path = join(this.dir, `handoff-${(this.#count += 1)}.bin`)
    this.#path = path

    const t0 = stamp()
    writeFileSync(path, dataset.data)
    return this.deliver(dataset, t0, { path, shape: dataset.shape })
  }

  override async release(collect: boolean): Promise<void> {
    await super.release(collect)
    if (this.#path !== undefined) unlinkSync(this.#path)
    this.#path = undefined
  }
}

/** The ceiling: one memcpy of the same bytes inside one process, then the same checksum. */
export class MemcpyContender implements Contender {
  readonly id = 'memcpy'
  readonly label = 'memcpy in one process (ceiling)'
  #target: Buffer | undefined

  skip(): undefined {
    return undefined
  }

  maxTrials(): number {
    return Infinity
  }

  async start(): Promise<void> {}

  async prepare(dataset: Dataset): Promise<void> {
    // Written once, so every page is faulted in before the trials (a calloc'd Buffer.alloc
    // would not be): the copy alone is measured.
    this.#target = Buffer.allocUnsafeSlow(dataset.bytes).fill(1)
  }

  async handoff(dataset: Dataset): Promise<Handoff> {
    const target = this.#target as Buffer
    const t0 = stamp()
    dataset.data.copy(target)
    const tCopied = stamp()
    const crc = checksum(target)
    const t1 = stamp()

    checkCrc(this.id, dataset, crc)
    return phases({ t0, tSent: tCopied, tRecv: tCopied, tDecoded: tCopied, t1 })
  }

  async release(_collect: boolean): Promise<void> {}

  async finish(): Promise<void> {
    this.#target = undefined
  }

  consumerPid(): undefined {
    return undefined
  }

  async stop(): Promise<void> {}
}

/** Two Python processes: shared_memory + pickle + a JSON receipt under an fcntl lock. */
export class PythonContender implements Contender {
  readonly id = 'python-shm'
  readonly label = 'Python shared_memory + pickle'
  #producer: PythonPeer | undefined
  #consumer: PythonPeer | undefined
  #key: string | undefined
  #count = 0

  constructor(private readonly python: string, private readonly dir: string) {}

  skip(): undefined {
    return undefined
  }

  maxTrials(bytes: number): number {
    return bytes >= GiB ? 3 : Infinity
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true })
    this.#producer = await PythonPeer.start(this.python, 'producer', this.dir)
    this.#consumer = await PythonPeer.start(this.python, 'consumer', this.dir)
  }

  async prepare(dataset: Dataset): Promise<void> {
    // Through tmpfs, so that handing the dataset over costs no disk I/O.
    const path = `/dev/shm/shmflow-bench-${process.pid}-dataset`
    writeFileSync(path, dataset.data)
    try {
      await this.a.request({ op: 'load', id: dataset.id, path, shape: dataset.shape ?? null })
    } finally {
      unlinkSync(path)
    }
  }

  async handoff(dataset: Dataset): Promise<Handoff> {
    const key = `handoff-${(this.#count += 1)}`
    this.#key = key
    this.a.send({ op: 'handoff', id: dataset.id, key })
    const received = await this.b.next(`handoff of ${dataset.id}`)
    await this.a.next('handoff')

    checkCrc(this.id, dataset, received.crc as number)
    return phases(received as unknown as Stamps)
  }

  async release(collect: boolean): Promise<void> {
    await this.b.request({ op: 'release', collect })
    if (this.#key !== undefined) await this.a.request({ op: 'cleanup', key: this.#key })
    this.#key = undefined
  }

  async finish(dataset: Dataset): Promise<void> {
    await this.a.request({ op: 'drop', id: dataset.id })
  }

  consumerPid(): number | undefined {
    return this.#consumer?.pid
  }

  async stop(): Promise<void> {
    await this.#consumer?.stop()
    await this.#producer?.stop()
  }

  private get a(): PythonPeer {
    if (this.#producer === undefined) throw new Error('the python contender was not started')
    return this.#producer
  }

  private get b(): PythonPeer {
    if (this.#consumer === undefined) throw new Error('the python contender was not started')
    return this.#consumer
  }
}
