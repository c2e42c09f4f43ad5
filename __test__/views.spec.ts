/**
 * Loaded binary values are copy-on-write views on the stored bytes: writing into one changes
 * nothing anyone else sees, and a view keeps its bytes after the key is overwritten, deleted or
 * the run shut down.
 */

import test from 'ava'

import { WorkflowContext } from '../src/index.js'
import { fixtureJson } from './helpers/child.js'
import { isGone } from './helpers/shm.js'

test('writing into a loaded Buffer changes neither the stored value nor crashes', async (t) => {
  await using context = await WorkflowContext.create()
  await context.save('frame', Buffer.alloc(4096, 1))

  const view = await context.load<Buffer>('frame')
  view.fill(0xee)

  t.is(view[100], 0xee)
  const again = await context.load<Buffer>('frame')
  t.true(again.equals(Buffer.alloc(4096, 1)))
})

test('writing into a loaded Float64Array is invisible to another process', async (t) => {
  await using context = await WorkflowContext.create()
  const original = new Float64Array(1024).map((_, i) => i / 3)
  await context.save('weights', original)
  const expected = await fixtureJson<Record<string, { sha256: string }>>('checksum.ts',
    [context.runId, 'weights'])

  const view = await context.load<Float64Array>('weights')
  view.fill(-1)

  const after = await fixtureJson<Record<string, { sha256: string }>>('checksum.ts',
    [context.runId, 'weights'])
  t.is(after.weights!.sha256, expected.weights!.sha256)
})

test('a reader holding the old view of an overwritten key still sees the old bytes', async (t) => {
  await using context = await WorkflowContext.create()
  await context.save('mask', new Uint8Array(8192).fill(1))
  const old = await context.load<Uint8Array>('mask')

  await context.save('mask', new Uint8Array(8192).fill(2))

  t.true(old.every((value) => value === 1))
  t.true((await context.load<Uint8Array>('mask')).every((value) => value === 2))
})

test('a view stays valid after its key is deleted', async (t) => {
  await using context = await WorkflowContext.create()
  await context.save('tile', new Int32Array([7, 8, 9]))
  const view = await context.load<Int32Array>('tile')

  t.true(await context.delete('tile'))

  t.deepEqual([...view], [7, 8, 9])
  t.false(await context.has('tile'))
})

test('a view stays valid after the run is shut down and removed', async (t) => {
  const context = await WorkflowContext.create()
  await context.save('image', { data: new Uint8Array(3000).fill(9), shape: [10, 100, 3],
    dtype: 'uint8' })
  const image = await context.load<{ data: Uint8Array }>('image')

  await context.shutdown()

  t.true(isGone(context))
  t.is(image.data.length, 3000)
  t.true(image.data.every((value) => value === 9))
})
