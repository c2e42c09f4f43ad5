/**
 * Other processes attach by run id: they read what was saved byte for byte, save concurrently
 * without losing anything, and the owner's normal exit removes the run.
 */

import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'

import test from 'ava'

import { WorkflowContext } from '../src/index.js'
import { fixtureJson, runFixture } from './helpers/child.js'
import { segmentsOf } from './helpers/shm.js'

interface Checksum {
  type: string
  bytes: number | null
  sha256: string
}

function sha256(view: ArrayBufferView): string {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
  return createHash('sha256').update(bytes).digest('hex')
}

test('a child process attached by run id reads every binary value byte for byte', async (t) => {
  await using context = await WorkflowContext.create()
  const values: Record<string, ArrayBufferView> = {
    buffer: randomBytes(8 * 1024 * 1024 + 13),
    float64: new Float64Array(randomBytes(8 * 4096).buffer),
    bigint64: new BigInt64Array(randomBytes(8 * 100).buffer),
    clamped: new Uint8ClampedArray(randomBytes(999)),
    empty: Buffer.alloc(0),
  }
  for (const [key, value] of Object.entries(values)) await context.save(key, value)
  await context.save('tensor', { data: values.float64, shape: [64, 64], dtype: 'float64' })

  const sums = await fixtureJson<Record<string, Checksum>>('checksum.ts',
    [context.runId, ...Object.keys(values), 'tensor'])

  for (const [key, value] of Object.entries(values)) {
    t.is(sums[key]!.sha256, sha256(value), key)
    t.is(sums[key]!.bytes, value.byteLength, key)
    t.is(sums[key]!.type, value.constructor.name, key)
  }
  t.is(sums.tensor!.sha256, sha256(values.float64!))
})

test('a child process reads structured values equal to what was saved', async (t) => {
  await using context = await WorkflowContext.create()
  const json = { name: 'run', sizes: [1, 2, 3], nested: { empty: '' } }
  await context.save('json', json)
  await context.save('map', new Map([['a', 1n]]))

  const sums = await fixtureJson<Record<string, Checksum>>('checksum.ts',
    [context.runId, 'json', 'map'])

  t.is(sums.json!.type, 'Object')
  t.is(sums.json!.sha256, createHash('sha256').update(JSON.stringify(json)).digest('hex'))
  t.is(sums.map!.type, 'Map')
})

test('4 processes saving 1,000 keys each at the same time lose none', async (t) => {
  await using context = await WorkflowContext.create()
  const writers = [0, 1, 2, 3]

  const results = await Promise.all(writers.map((writer) =>
    runFixture('save-many.ts', [context.runId, `w${writer}`, String(writer + 1), '1000'], 120_000)))

  for (const result of results) t.is(result.code, 0, result.stderr)
  const keys = await context.keys()
  t.is(keys.length, 4 * 1000 + 1)
  for (const writer of writers) {
    for (let n = 0; n < 1000; n += 1) {
      const value = await context.load<Uint32Array>(`w${writer}-${n}`)
      if (value[0] !== writer + 1 || value[1] !== n) t.fail(`w${writer}-${n} holds ${value}`)
    }
  }
  const shared = await context.load<Buffer>('shared')
  t.true(shared.every((byte) => byte === shared[0]), 'an overwrite is never a mix of two writers')
  t.true(shared[0]! >= 1 && shared[0]! <= 4)
})

test('the owner\'s normal exit without shutdown removes every segment and the run directory',
  async (t) => {
    const result = await fixtureJson<{ runId: string; root: string; segments: string[] }>(
      'exit-without-shutdown.ts', [])

    t.is(result.segments.length, 2, 'the child saw its own segments before it exited')
    t.deepEqual(segmentsOf(result.runId), [])
    t.false(existsSync(join(result.root, `shmflow-${userInfo().uid}`, result.runId)))
  })

test('an attached process that exits removes nothing of the run', async (t) => {
  await using context = await WorkflowContext.create()
  await context.save('mine', Buffer.alloc(100, 1))

  const child = await runFixture('exit-without-shutdown.ts', ['--attach', context.runId])

  t.is(child.code, 0, child.stderr)
  t.deepEqual(await context.keys(), ['from-child', 'mine'])
  t.true((await context.load<Buffer>('mine')).equals(Buffer.alloc(100, 1)))
  t.is(segmentsOf(context.runId).length, 2)
})
