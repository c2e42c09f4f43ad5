/**
 * The processes the harness talks to: Node consumers over their IPC channel, and the Python
 * peers over JSON lines on stdin and stdout. One request at a time each, with a timeout, so
 * that a stuck contender fails the run with its name instead of hanging it.
 */

import { fork, spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

import type { FromConsumer, ReceiveMode, ToConsumer } from '../peers/protocol.js'

const PEERS = join(__dirname, '..', 'peers')

/** How long one answer may take: a 1 GiB advanced-IPC clone takes seconds, never minutes. */
const ANSWER_TIMEOUT_MS = 180_000

/** Answers in arrival order, each awaited by the request that expects it. */
class Mailbox<T> {
  readonly #arrived: T[] = []
  readonly #waiting: Array<{ resolve: (message: T) => void; reject: (error: Error) => void }> = []
  #failure: Error | undefined

  deliver(message: T): void {
    const waiter = this.#waiting.shift()
    if (waiter === undefined) this.#arrived.push(message)
    else waiter.resolve(message)
  }

  fail(error: Error): void {
    this.#failure = error
    for (const waiter of this.#waiting.splice(0)) waiter.reject(error)
  }

  next(what: string): Promise<T> {
    const ready = this.#arrived.shift()
    if (ready !== undefined) return Promise.resolve(ready)
    if (this.#failure !== undefined) return Promise.reject(this.#failure)

    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${what} within ` +
        `${ANSWER_TIMEOUT_MS / 1000} s`)), ANSWER_TIMEOUT_MS)
      const settle = <A>(done: (arg: A) => void) => (arg: A) => {
        clearTimeout(timer)
        done(arg)
      }
      this.#waiting.push({ resolve: settle(resolve), reject: settle(reject) })
    })
  }
}

function watchExit(child: ChildProcess, mailbox: Mailbox<unknown>, name: string): void {
  child.once('exit', (code, signal) => {
    mailbox.fail(new Error(`${name} (pid ${child.pid}) exited (${signal ?? `code ${code}`})`))
  })
}

/** Process B of a Node contender. */
export class NodeConsumer {
  readonly #child: ChildProcess
  readonly #mailbox = new Mailbox<FromConsumer>()

  private constructor(child: ChildProcess) {
    this.#child = child
    child.on('message', (message: FromConsumer) => this.#mailbox.deliver(message))
    watchExit(child, this.#mailbox as Mailbox<unknown>, 'node consumer')
  }

  /** Forks a consumer with the IPC serialization that `mode` needs, and waits until it is up. */
  static async start(mode: ReceiveMode): Promise<NodeConsumer> {
    // The child inherits this process's Node options, tsx's loader among them.
    const child = fork(join(PEERS, 'node-consumer.ts'), [mode], {
      serialization: mode === 'advanced' ? 'advanced' : 'json',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const consumer = new NodeConsumer(child)
    await consumer.expect('ready', 'start')
    return consumer
  }

  get pid(): number {
    return this.#child.pid as number
  }

  /** Sends a message now (the caller takes its time stamp just before). */
  send(message: ToConsumer): void {
    this.#child.send(message)
  }

  /** The next answer, which must be of kind `op`. */
  async expect<K extends FromConsumer['op']>(op: K, what: string):
    Promise<Extract<FromConsumer, { op: K }>> {
    const message = await this.#mailbox.next(`${what} (node consumer ${this.pid})`)
    if (message.op === 'error') throw new Error(`node consumer ${this.pid}: ${message.message}`)
    if (message.op !== op) throw new Error(`expected ${op} from the consumer, got ${message.op}`)
    return message as Extract<FromConsumer, { op: K }>
  }

  async request<K extends FromConsumer['op']>(message: ToConsumer, op: K):
    Promise<Extract<FromConsumer, { op: K }>> {
    this.send(message)
    return this.expect(op, message.op)
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    const exited = new Promise((resolve) => this.#child.once('exit', resolve))
    this.#child.disconnect()
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
}

/** A JSON answer from a Python peer. */
export type PythonAnswer = Record<string, unknown>

/** One Python peer process (producer or consumer). */
export class PythonPeer {
  readonly #child: ChildProcess
  readonly #mailbox = new Mailbox<PythonAnswer>()
  readonly #role: string

  private constructor(child: ChildProcess, role: string) {
    this.#child = child
    this.#role = role
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    lines.on('line', (line) => this.#mailbox.deliver(JSON.parse(line) as PythonAnswer))
    watchExit(child, this.#mailbox as Mailbox<unknown>, `python ${role}`)
  }

  static async start(python: string, role: 'producer' | 'consumer', dir: string):
    Promise<PythonPeer> {
    const child = spawn(python, [join(PEERS, 'py_peer.py'), role, dir], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    const peer = new PythonPeer(child, role)
    await peer.next('start')
    return peer
  }

  get pid(): number {
    return this.#child.pid as number
  }

  next(what: string): Promise<PythonAnswer> {
    return this.#mailbox.next(`${what} (python ${this.#role} ${this.pid})`)
  }

  send(command: Record<string, unknown>): void {
    this.#child.stdin?.write(`${JSON.stringify(command)}\n`)
  }

  async request(command: Record<string, unknown>): Promise<PythonAnswer> {
    this.send(command)
    return this.next(String(command.op))
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    const exited = new Promise((resolve) => this.#child.once('exit', resolve))
    this.#child.stdin?.end()
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
}
