/**
 * Process B for the Node contenders: receives a value the way its contender delivers it, reads
 * every byte (CRC-32), and answers with time stamps. Started by the harness with the IPC
 * serialization its contender needs; argv[2] is the receive mode.
 */

import { readFileSync } from 'node:fs'

import { WorkflowContext } from '../../dist/index.js'
import { checksum } from '../lib/checksum.js'
import { stamp } from '../lib/clock.js'
import { forceGc } from '../lib/gc.js'
import { pairsPerSecond } from '../lib/small.js'
import type { FromConsumer, ReceiveMode, ToConsumer } from './protocol.js'

const mode = process.argv[2] as ReceiveMode
let context: WorkflowContext | undefined
/** The last value received, kept alive as a real consumer would keep it, until `release`. */
const holding: { value?: unknown } = {}

function reply(message: FromConsumer): void {
  process.send?.(message)
}

/** The bytes of a received value: a binary view, or a tensor's data. */
function bytesToCheck(value: unknown): ArrayBufferView {
  if (ArrayBuffer.isView(value)) return value
  const data = (value as { data?: unknown }).data
  if (ArrayBuffer.isView(data)) return data
  throw new Error(`received a ${typeof value} without binary data`)
}

/** A tensor over received bytes, as a consumer would build it (copying only if misaligned). */
function asTensor(bytes: Buffer, shape: number[]): unknown {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : Buffer.from(bytes)
  const data = new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4)
  return { data, shape, dtype: 'float32' }
}

async function receive(message: Extract<ToConsumer, { op: 'handoff' }>): Promise<unknown> {
  const wrap = (bytes: Buffer) => message.shape === undefined ? bytes : asTensor(bytes,
    message.shape)
  switch (mode) {
    case 'shmflow':
      return (context as WorkflowContext).load(message.key as string)
    case 'base64':
      return wrap(Buffer.from(message.data as string, 'base64'))
    case 'advanced':
      return message.data
    case 'file':
      return wrap(readFileSync(message.path as string))
  }
}

async function handoff(message: Extract<ToConsumer, { op: 'handoff' }>): Promise<void> {
  const tRecv = stamp()
  const value = await receive(message)
  const tDecoded = stamp()
  const crc = checksum(bytesToCheck(value))
  const t1 = stamp()

  holding.value = value
  reply({ op: 'received', tRecv, tDecoded, t1, crc })
}

/** Save-and-load pairs of small values in this attached process, per second, per trial. */
async function smallLoop(message: Extract<ToConsumer, { op: 'small' }>): Promise<void> {
  const ctx = await WorkflowContext.attach(message.runId, { root: message.root })
  const key = `small-${process.pid}-${message.kind}`
  const rates: number[] = []
  for (let trial = 0; trial < message.trials; trial += 1) {
    rates.push(await pairsPerSecond(ctx, key, message.kind, message.pairs))
  }
  await ctx.delete(key)
  await ctx.shutdown()
  reply({ op: 'small', pairsPerSecond: rates })
}

async function handle(message: ToConsumer): Promise<void> {
  switch (message.op) {
    case 'attach':
      context = await WorkflowContext.attach(message.runId, { root: message.root })
      return reply({ op: 'attached' })
    case 'handoff':
      return handoff(message)
    case 'release':
      holding.value = undefined
      if (message.collect) forceGc()
      return reply({ op: 'released' })
    case 'small':
      return smallLoop(message)
  }
}

process.on('message', (message: ToConsumer) => {
  handle(message).catch((error: unknown) => reply({ op: 'error', message: String(error) }))
})
process.on('disconnect', () => process.exit(0))
reply({ op: 'ready' })
