/**
 * The context's own operations: keys, usage, export, attach, shutdown and disposal, and the
 * registry of open contexts.
 */

import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'

import test from 'ava'

import {
  InvalidArgumentError, NoCurrentContextError, WorkflowContext, currentContext, findContext,
  loadExported,
} from '../src/index.js'
import { isGone, runDirFor, runDirOf, segmentsOf } from './helpers/shm.js'

test('a new context owns a run with a 20-character id under the root', async (t) => {
  await using context = await WorkflowContext.create()

  t.regex(context.runId, /^[a-z2-7]{20}$/)
  t.true(context.isOwner)
  t.false(context.closed)
  t.is(context.root, process.env.SHMFLOW_DIR ?? tmpdir())
})

test('keys lists every saved key in sorted order, and delete removes one', async (t) => {
  await using context = await WorkflowContext.create()
  for (const key of ['b', 'a', 'c/d', 'ünïcode']) await context.save(key, key)

  t.deepEqual(await context.keys(), ['a', 'b', 'c/d', 'ünïcode'])
  t.true(await context.has('c/d'))
  t.true(await context.delete('c/d'))
  t.false(await context.delete('c/d'))
  t.deepEqual(await context.keys(), ['a', 'b', 'ünïcode'])
})

test('usage counts the bytes and values of each tier', async (t) => {
  await using context = await WorkflowContext.create()
  await context.save('one', Buffer.alloc(1000))
  await context.save('two', new Float64Array(25))

  const usage = await context.usage()

  t.is(usage.keys, 2)
  t.deepEqual(usage.tiers.shm, { bytes: 1200, count: 2 })
  t.deepEqual(Object.keys(usage.tiers).sort(), ['disk', 'mmap-file', 'shm'])
})

test('save reports the tier, the exact size and the location of the value', async (t) => {
  await using context = await WorkflowContext.create()

  const receipt = await context.save('pixels', new Uint16Array(10))

  t.is(receipt.key, 'pixels')
  t.is(receipt.tier, 'shm')
  t.is(receipt.bytes, 20)
  t.true(receipt.location.includes(context.runId))
})

test('an exported value outlives the run and loads back as the same type', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shmflow-export-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'result.sfseg')
  const tensor = { data: new Float32Array([1, 2, 3, 4]), shape: [2, 2], dtype: 'float32' }

  const context = await WorkflowContext.create()
  await context.save('result', tensor)
  await context.exportData('result', path)
  await context.shutdown()

  t.true(isGone(context))
  t.deepEqual(await loadExported(path), tensor)
})

test('an attached context sees the owner\'s values, and its shutdown removes nothing',
  async (t) => {
    await using owner = await WorkflowContext.create()
    await owner.save('shared', { hello: 'world' })

    const attached = await WorkflowContext.attach(owner.runId)
    t.false(attached.isOwner)
    t.deepEqual(await attached.load('shared'), { hello: 'world' })
    await attached.save('from-attached', 1)
    await attached.shutdown()

    t.true(attached.closed)
    t.false(owner.closed)
    t.deepEqual(await owner.keys(), ['from-attached', 'shared'])
  })

test('shutdown removes every segment and the run directory, and is harmless twice',
  async (t) => {
    const context = await WorkflowContext.create()
    await context.save('a', Buffer.alloc(10))
    await context.save('b', { c: 1 })
    t.is(segmentsOf(context.runId).length, 2)

    await context.shutdown()
    await context.shutdown()

    t.true(context.closed)
    t.deepEqual(segmentsOf(context.runId), [])
    t.true(isGone(context))
  })

test('await using shuts the context down at the end of the block', async (t) => {
  let escaped: WorkflowContext | undefined
  {
    await using context = await WorkflowContext.create()
    await context.save('x', new Uint8Array(16))
    escaped = context
  }

  t.true(escaped.closed)
  t.true(isGone(escaped))
})

test('using shuts the context down synchronously at the end of the block', async (t) => {
  let escaped: WorkflowContext | undefined
  {
    using context = await WorkflowContext.create()
    await context.save('x', 'y')
    escaped = context
  }

  t.true(escaped.closed)
  t.true(isGone(escaped))
})

test('a run created with a given id gets that id', async (t) => {
  const runId = 'testrunidaaaaaaaaaa2'
  await using context = await WorkflowContext.create({ runId })

  t.is(context.runId, runId)
  t.true(runDirOf(context).endsWith(runId))
})

test('the registry finds an open context by run id until it is shut down', async (t) => {
  const context = await WorkflowContext.create()
  t.is(findContext(context.runId), context)

  await context.shutdown()
  t.is(findContext(context.runId), undefined)
})

test('currentContext outside a workflow step throws a NoCurrentContextError', (t) => {
  const error = t.throws(() => currentContext(), { instanceOf: NoCurrentContextError })
  t.is(error?.code, 'ERR_SHMFLOW_NO_CURRENT_CONTEXT')
})

test('passBy \'ref\' is refused until graph workflows exist', async (t) => {
  await using context = await WorkflowContext.create()

  await t.throwsAsync(context.save('model', {}, { passBy: 'ref' }), {
    instanceOf: InvalidArgumentError, message: /graph workflows/,
  })
  t.is((await context.save('model', {}, { passBy: 'val' })).tier, 'shm')
})

test('a worker thread that ends removes the runs it created, and only those', async (t) => {
  await using mine = await WorkflowContext.create()
  await mine.save('kept', Buffer.alloc(10))
  const worker = new Worker(join(__dirname, 'fixtures', 'thread-owner.cjs'))

  const [{ runId }] = (await once(worker, 'message')) as [{ runId: string }]
  t.is(segmentsOf(runId).length, 1)
  await once(worker, 'exit')

  t.deepEqual(segmentsOf(runId), [])
  t.false(existsSync(runDirFor(mine.root, runId)))
  t.is(segmentsOf(mine.runId).length, 1)
  t.true((await mine.load<Buffer>('kept')).equals(Buffer.alloc(10)))
})
