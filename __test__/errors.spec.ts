/**
 * Each failure has its own error class with a stable code, and says which key or run it is
 * about.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import test from 'ava'

import {
  ContextClosedError, CorruptSegmentError, InvalidArgumentError, KeyNotFoundError,
  RunNotFoundError, ShmflowError, WorkflowContext, loadExported,
} from '../src/index.js'

test('loading a missing key gives a KeyNotFoundError naming the key and the run', async (t) => {
  await using context = await WorkflowContext.create()

  const error = await t.throwsAsync(context.load('no-such-key'), { instanceOf: KeyNotFoundError })

  t.true(error instanceof ShmflowError)
  t.is(error?.code, 'ERR_SHMFLOW_KEY_NOT_FOUND')
  t.is(error?.key, 'no-such-key')
  t.is(error?.runId, context.runId)
  t.true(error?.message.includes('"no-such-key"'))
  t.true(error?.message.includes(context.runId))
})

test('every call on a closed context gives a ContextClosedError naming the run', async (t) => {
  const context = await WorkflowContext.create()
  await context.shutdown()

  const calls = [
    context.save('k', 1), context.load('k'), context.has('k'), context.delete('k'),
    context.keys(), context.usage(), context.exportData('k', join(tmpdir(), 'never')),
  ]
  for (const call of calls) {
    const error = await t.throwsAsync(call, { instanceOf: ContextClosedError })
    t.is(error?.code, 'ERR_SHMFLOW_CONTEXT_CLOSED')
    t.is(error?.runId, context.runId)
    t.true(error?.message.includes(context.runId))
  }
})

test('attaching to an unknown run id gives a RunNotFoundError naming the run', async (t) => {
  const runId = 'abcdefghijklmnopqrst'

  const error = await t.throwsAsync(WorkflowContext.attach(runId), { instanceOf: RunNotFoundError })

  t.is(error?.code, 'ERR_SHMFLOW_RUN_NOT_FOUND')
  t.is(error?.runId, runId)
  t.true(error?.message.includes(runId))
})

test('attaching to a run that was shut down gives a RunNotFoundError', async (t) => {
  const context = await WorkflowContext.create()
  await context.shutdown()

  const error = await t.throwsAsync(WorkflowContext.attach(context.runId), {
    instanceOf: RunNotFoundError,
  })
  t.true(error?.message.includes(context.runId))
})

test('the three errors are distinct classes with distinct codes', async (t) => {
  await using context = await WorkflowContext.create()
  const closed = await WorkflowContext.create()
  await closed.shutdown()

  const errors = await Promise.all([
    context.load('missing').catch((error: unknown) => error),
    closed.load('missing').catch((error: unknown) => error),
    WorkflowContext.attach('zzzzzzzzzzzzzzzzzzzz').catch((error: unknown) => error),
  ]) as ShmflowError[]

  t.deepEqual(errors.map((error) => error.name),
    ['KeyNotFoundError', 'ContextClosedError', 'RunNotFoundError'])
  t.is(new Set(errors.map((error) => error.code)).size, 3)
  t.false(errors[0] instanceof RunNotFoundError)
})

test('an empty key is refused with an InvalidArgumentError before anything is stored',
  async (t) => {
    await using context = await WorkflowContext.create()

    const error = await t.throwsAsync(context.save('', 1), { instanceOf: InvalidArgumentError })

    t.is(error?.code, 'ERR_SHMFLOW_INVALID_ARGUMENT')
    t.deepEqual(await context.keys(), [])
  })

test('a damaged exported file gives a CorruptSegmentError, not a bad read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shmflow-export-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await using context = await WorkflowContext.create()
  await context.save('weights', new Float32Array(64).fill(0.5))
  const path = join(dir, 'weights.sfseg')
  await context.exportData('weights', path)

  const bytes = readFileSync(path)
  writeFileSync(path, bytes.subarray(0, bytes.length - 16))
  const truncated = await t.throwsAsync(loadExported(path), { instanceOf: CorruptSegmentError })
  t.is(truncated?.code, 'ERR_SHMFLOW_CORRUPT_SEGMENT')

  bytes[0] = bytes[0]! ^ 0xff
  writeFileSync(path, bytes)
  await t.throwsAsync(loadExported(path), { instanceOf: CorruptSegmentError })
})
