/**
 * runSequential with module workflows: each runs in a child process that attaches by run id,
 * only keys cross the IPC channel, failures name the workflow, and children never outlive it.
 */

import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { join } from 'node:path'

import test from 'ava'

import {
  AbortError, WORKER_MESSAGE_CHANNEL, WorkflowContext, WorkflowError, runSequential,
  type WorkerMessageEvent,
} from '../src/index.js'
import { FIXTURES } from './helpers/child.js'
import { isGone } from './helpers/shm.js'

const workflow = (name: string) => join(FIXTURES, 'workflows', name)

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

test('a module workflow runs in its own process, reused across iterations', async (t) => {
  const outputs = await runSequential([
    { name: 'describe', module: workflow('describe-process.ts') },
  ], { iterations: 3 })

  const pids = [outputs['pid-0'], outputs['pid-1'], outputs['pid-2']]
  t.not(pids[0], process.pid)
  t.deepEqual(new Set(pids).size, 1, 'one child process for all iterations')
  t.false(isAlive(pids[0] as number), 'the child is gone once runSequential settles')
})

test('in the child, currentContext is the attached context of the same run', async (t) => {
  const outputs = await runSequential([
    { name: 'describe', module: workflow('describe-process.ts') },
  ])

  t.false(outputs.isOwner)
  t.true(outputs.sameContext)
  t.true(outputs.runIdFromEnv)
})

test('iterations alternate between this process and a child, each seeing the last output',
  async (t) => {
    const outputs = await runSequential([
      {
        name: 'increment', inputs: ['n'], outputs: ['n'],
        run: ({ n }) => ({ n: (n as number) + 1 }),
      },
      { name: 'double', inputs: ['n'], outputs: ['n'], module: workflow('double.ts') },
    ], { inputs: { n: 0 }, iterations: 4 })

    // ((((0 + 1) * 2 + 1) * 2 + 1) * 2 + 1) * 2
    t.is(outputs.n, 30)
  })

test('a named export of a module is used when asked for', async (t) => {
  const outputs = await runSequential([
    { name: 'invert', module: workflow('named.ts'), export: 'invert', inputs: ['image'] },
  ], { inputs: { image: new Uint8Array([0, 100, 255]) } })

  t.deepEqual([...(outputs.image as Uint8Array)], [255, 155, 0])
})

test('a plain CommonJS module works as a module workflow', async (t) => {
  const outputs = await runSequential([
    { name: 'greet', module: workflow('plain.cjs'), inputs: ['name'] },
  ], { inputs: { name: 'shmflow' } })

  t.is(outputs.greeting, 'hello, shmflow')
})

test('only keys and the run id cross the IPC channel, never the data', async (t) => {
  const events: WorkerMessageEvent[] = []
  const listen = (message: unknown) => events.push(message as WorkerMessageEvent)
  subscribe(WORKER_MESSAGE_CHANNEL, listen)
  t.teardown(() => unsubscribe(WORKER_MESSAGE_CHANNEL, listen))
  const seed = Buffer.alloc(4 * 1024 * 1024, 0x0f)

  const outputs = await runSequential([
    { name: 'big', module: workflow('big-output.ts'), inputs: ['seed'], outputs: ['blob'] },
  ], { inputs: { seed }, iterations: 2 })

  t.true((outputs.blob as Buffer).equals(Buffer.alloc(seed.length, 0xf0)))
  const mine = events.filter((event) => event.workflow === 'big')
  t.deepEqual(mine.map((event) => event.message.type),
    ['init', 'ready', 'run', 'done', 'run', 'done'])
  t.true(mine.every((event) => event.bytes < 512), `sizes: ${mine.map((event) => event.bytes)}`)
  const done = mine.find((event) => event.message.type === 'done')!.message
  t.deepEqual(done, { type: 'done', iteration: 0, saved: [
    { key: 'blob', tier: 'shm', bytes: seed.length },
  ] })
})

test('a child that crashes gives a WorkflowError naming the workflow and the iteration',
  async (t) => {
    let context: WorkflowContext | undefined

    const error = await t.throwsAsync(runSequential([
      { name: 'grab', run: (_, step) => {
        context = step.context
      } },
      { name: 'crashy', module: workflow('crash.ts') },
    ], { iterations: 3 }), { instanceOf: WorkflowError })

    t.is(error?.workflow, 'crashy')
    t.is(error?.iteration, 1)
    t.regex(error?.message ?? '', /workflow "crashy" failed in iteration 1: .*exited with code 7/)
    t.true(isGone(context!))
  })

test('an error thrown in the child keeps its name, message and stack as the cause', async (t) => {
  const error = await t.throwsAsync(runSequential([
    { name: 'thrower', module: workflow('throws.ts') },
  ]), { instanceOf: WorkflowError })

  const cause = error?.cause as Error
  t.is(cause.name, 'RangeError')
  t.is(cause.message, 'pixel value 300 is out of range')
  t.regex(cause.stack ?? '', /throws\.ts/)
})

test('an output the child cannot store names the key, with the TypeError\'s code', async (t) => {
  const error = await t.throwsAsync(runSequential([
    { name: 'bad-output', module: workflow('unsupported.ts') },
  ]), { instanceOf: WorkflowError })

  t.is(error?.key, 'handler')
  t.is((error?.cause as { code?: string }).code, 'ERR_SHMFLOW_UNSUPPORTED_VALUE')
})

test('a module without the export gives a WorkflowError saying so', async (t) => {
  const error = await t.throwsAsync(runSequential([
    { name: 'no-export', module: workflow('no-default.ts') },
  ]), { instanceOf: WorkflowError })

  t.regex(error?.message ?? '', /has no function export "default"/)
})

test('an abort during a child\'s step stops at once and kills the child', async (t) => {
  await using context = await WorkflowContext.create()
  const controller = new AbortController()
  const poll = setInterval(() => {
    void context.has('slow-pid').then((saved) => saved && controller.abort())
  }, 50)
  t.teardown(() => clearInterval(poll))

  await t.throwsAsync(runSequential([
    { name: 'slow', module: workflow('slow.ts') },
  ], { context, signal: controller.signal }), { instanceOf: AbortError })

  const pid = await context.load<number>('slow-pid')
  t.false(isAlive(pid))
  t.false(context.closed)
})
