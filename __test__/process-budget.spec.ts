/**
 * One shared-memory budget for every context of the process together. It is process-wide, so
 * this file has a process of its own and its tests run one at a time.
 */

import test from 'ava'

import { InvalidArgumentError, WorkflowContext, setProcessMaxSharedBytes } from '../src/index.js'

test.afterEach.always(() => {
  setProcessMaxSharedBytes(null)
})

test.serial('a process budget sends what exceeds it to a file tier, and null lifts it',
  async (t) => {
    await using first = await WorkflowContext.create()
    await using second = await WorkflowContext.create()
    const reasons: string[] = []
    second.on('fallback', (event) => reasons.push(`${event.key}: ${event.reason}`))
    setProcessMaxSharedBytes(6000)

    t.is((await first.save('a', Buffer.alloc(4000))).tier, 'shm')
    const receipt = await second.save('b', Buffer.alloc(4000))
    t.is(receipt.tier, 'mmap-file')
    t.deepEqual(receipt.fallbacks.map((fallback) => [fallback.tier, fallback.reason]),
      [['shm', 'process-budget']])
    t.deepEqual(reasons, ['b: process-budget'])

    setProcessMaxSharedBytes(null)
    t.is((await second.save('c', Buffer.alloc(4000))).tier, 'shm')
  })

test.serial('a process budget can be a share of physical memory', async (t) => {
  setProcessMaxSharedBytes('0%')
  await using context = await WorkflowContext.create()

  t.is((await context.save('x', Buffer.alloc(10))).tier, 'mmap-file')
})

test.serial('a budget that is neither bytes nor a share is refused', (t) => {
  t.throws(() => setProcessMaxSharedBytes('lots' as never), { instanceOf: InvalidArgumentError })
  t.throws(() => setProcessMaxSharedBytes(-1), { code: 'ERR_SHMFLOW_INVALID_ARGUMENT' })
})
