/** runSequential with in-process workflows: order, iterations, events, errors, abort, cleanup. */

import test from 'ava'

import {
  AbortError, ContextClosedError, InvalidArgumentError, KeyNotFoundError, UnsupportedValueError,
  WorkflowContext, WorkflowError, currentContext, runSequential, type RunEvent, type StepInfo,
} from '../src/index.js'
import { isGone } from './helpers/shm.js'

test('workflows run in order and their outputs come back by key', async (t) => {
  const order: string[] = []

  const outputs = await runSequential([
    { name: 'load', outputs: ['pixels'], run: () => {
      order.push('load')
      return { pixels: new Uint8Array([10, 20, 30]) }
    } },
    { name: 'invert', inputs: ['pixels'], outputs: ['inverted'], run: ({ pixels }) => {
      order.push('invert')
      return { inverted: (pixels as Uint8Array).map((value) => 255 - value) }
    } },
  ])

  t.deepEqual(order, ['load', 'invert'])
  t.deepEqual(Object.keys(outputs).sort(), ['inverted', 'pixels'])
  t.deepEqual([...(outputs.inverted as Uint8Array)], [245, 235, 225])
})

test('iteration i + 1 sees what iteration i saved', async (t) => {
  const seen: number[] = []

  const outputs = await runSequential([
    { name: 'count', inputs: ['count'], outputs: ['count'], run: ({ count }) => {
      seen.push(count as number)
      return { count: (count as number) + 1 }
    } },
  ], { inputs: { count: 0 }, iterations: 5 })

  t.deepEqual(seen, [0, 1, 2, 3, 4])
  t.is(outputs.count, 5)
})

test('inputs are saved by key before the first step', async (t) => {
  const outputs = await runSequential([
    { name: 'scale', inputs: ['image', 'factor'], run: ({ image, factor }) => ({
      scaled: (image as Float32Array).map((value) => value * (factor as number)),
    }) },
  ], { inputs: { image: new Float32Array([1, 2]), factor: 3 } })

  t.deepEqual([...(outputs.scaled as Float32Array)], [3, 6])
})

test('events report every step with its saved keys, tiers and bytes', async (t) => {
  const events: RunEvent[] = []

  await runSequential([
    { name: 'a', run: () => ({ x: Buffer.alloc(100) }) },
    { name: 'b', run: () => ({ y: 'text' }) },
  ], { iterations: 2, onEvent: (event) => events.push(event) })

  t.deepEqual(events.map((event) => event.type), ['run-start', 'workflow-start', 'workflow-end',
    'workflow-start', 'workflow-end', 'workflow-start', 'workflow-end', 'workflow-start',
    'workflow-end', 'run-end'])
  const ends = events.filter((event) => event.type === 'workflow-end')
  t.deepEqual(ends.map((event) => [event.workflow, event.iteration, event.index]),
    [['a', 0, 0], ['b', 0, 1], ['a', 1, 0], ['b', 1, 1]])
  t.deepEqual(ends[0]!.saved, [{ key: 'x', tier: 'shm', bytes: 100 }])
  t.true(ends.every((event) => event.durationMs >= 0))
})

test('the context it creates is shut down and removed after success', async (t) => {
  let context: WorkflowContext | undefined

  await runSequential([{ name: 'grab', run: (_, step) => {
    context = step.context
    return { kept: Buffer.alloc(10) }
  } }])

  t.true(context!.closed)
  t.true(isGone(context!))
})

test('the context it creates is shut down and removed when a step fails', async (t) => {
  let context: WorkflowContext | undefined

  const error = await t.throwsAsync(runSequential([
    { name: 'save', run: (_, step) => {
      context = step.context
      return { partial: Buffer.alloc(10) }
    } },
    { name: 'explode', run: ({}, step) => {
      if (step.iteration === 1) throw new RangeError('sigma must be positive')
    } },
  ], { iterations: 3 }), { instanceOf: WorkflowError })

  t.is(error?.code, 'ERR_SHMFLOW_WORKFLOW')
  t.is(error?.workflow, 'explode')
  t.is(error?.iteration, 1)
  t.true(error?.cause instanceof RangeError)
  t.regex(error?.message ?? '', /workflow "explode" failed in iteration 1: sigma must be positive/)
  t.true(context!.closed)
  t.true(isGone(context!))
})

test('a given context is used and left open with its values', async (t) => {
  await using context = await WorkflowContext.create()
  await context.save('total', 10)

  await runSequential([
    { name: 'add', inputs: ['total'], run: ({ total }) => ({ total: (total as number) + 1 }) },
  ], { context, iterations: 2 })
  await runSequential([
    { name: 'add', inputs: ['total'], run: ({ total }) => ({ total: (total as number) + 1 }) },
  ], { context })

  t.false(context.closed)
  t.is(await context.load('total'), 13)
})

test('a given context is left open when a step fails', async (t) => {
  await using context = await WorkflowContext.create()

  await t.throwsAsync(runSequential([{ name: 'fail', run: () => {
    throw new Error('no')
  } }], { context }), { instanceOf: WorkflowError })

  t.false(context.closed)
})

test('an abort stops the run between steps and still removes its own context', async (t) => {
  const controller = new AbortController()
  const ran: string[] = []
  let context: WorkflowContext | undefined

  const error = await t.throwsAsync(runSequential([
    { name: 'first', run: (_, step) => {
      ran.push('first')
      context = step.context
      controller.abort(new Error('user pressed stop'))
      return { done: true }
    } },
    { name: 'second', run: () => {
      ran.push('second')
    } },
  ], { signal: controller.signal }), { instanceOf: AbortError })

  t.is(error?.code, 'ABORT_ERR')
  t.is(error?.name, 'AbortError')
  t.is((error?.cause as Error).message, 'user pressed stop')
  t.deepEqual(ran, ['first'])
  t.true(isGone(context!))
})

test('an abort leaves a given context open', async (t) => {
  await using context = await WorkflowContext.create()
  const controller = new AbortController()

  await t.throwsAsync(runSequential([{ name: 'stop', run: () => {
    controller.abort()
    return { before: 1 }
  } }], { context, iterations: 3, signal: controller.signal }), { instanceOf: AbortError })

  t.false(context.closed)
  t.is(await context.load('before'), 1)
})

test('an already aborted signal rejects before any step runs', async (t) => {
  let ran = false

  await t.throwsAsync(runSequential([{ name: 'never', run: () => {
    ran = true
  } }], { signal: AbortSignal.abort() }), { instanceOf: AbortError })

  t.false(ran)
})

test('the step\'s signal is aborted when the run is', async (t) => {
  const controller = new AbortController()
  let signal: AbortSignal | undefined

  await t.throwsAsync(runSequential([{ name: 'watch', run: (_, step: StepInfo) => {
    signal = step.signal
    controller.abort()
  } }], { signal: controller.signal }), { instanceOf: AbortError })

  t.true(signal?.aborted)
})

test('currentContext inside a step is the run\'s context', async (t) => {
  let same = false

  await runSequential([{ name: 'look', run: (_, step) => {
    same = currentContext() === step.context
  } }])

  t.true(same)
})

test('a missing input names the workflow, the iteration and the key', async (t) => {
  const error = await t.throwsAsync(runSequential([
    { name: 'needs', inputs: ['absent'], run: () => ({}) },
  ]), { instanceOf: WorkflowError })

  t.is(error?.key, 'absent')
  t.is(error?.workflow, 'needs')
  t.true(error?.cause instanceof KeyNotFoundError)
  t.regex(error?.message ?? '', /\(key "absent"\): input "absent" could not be loaded/)
})

test('a declared output that is not returned names the key', async (t) => {
  const error = await t.throwsAsync(runSequential([
    { name: 'forgets', outputs: ['mask'], run: () => ({}) },
  ]), { instanceOf: WorkflowError })

  t.is(error?.key, 'mask')
  t.regex(error?.message ?? '', /declared output "mask" was not returned/)
})

test('a returned key that is not a declared output is refused', async (t) => {
  const error = await t.throwsAsync(runSequential([
    { name: 'extra', outputs: ['a'], run: () => ({ a: 1, b: 2 }) },
  ]), { instanceOf: WorkflowError })

  t.is(error?.key, 'b')
})

test('an output that cannot be stored names the key and keeps the TypeError as cause',
  async (t) => {
    const error = await t.throwsAsync(runSequential([
      { name: 'returns-function', run: () => ({ callback: () => 1 }) },
    ]), { instanceOf: WorkflowError })

    t.is(error?.key, 'callback')
    t.true(error?.cause instanceof UnsupportedValueError)
  })

test('a closed context is refused before anything runs', async (t) => {
  const context = await WorkflowContext.create()
  await context.shutdown()

  await t.throwsAsync(runSequential([{ name: 'x', run: () => ({}) }], { context }), {
    instanceOf: ContextClosedError,
  })
})

test('malformed workflows and options are refused up front', async (t) => {
  const invalid: Array<[unknown, object | undefined]> = [
    [[{ name: 'neither' }], undefined],
    [[{ name: 'both', run: () => ({}), module: __filename }], undefined],
    [[{ name: '', run: () => ({}) }], undefined],
    [[{ name: 'keys', inputs: [''], run: () => ({}) }], undefined],
    [[{ name: 'gone', module: '/no/such/module.js' }], undefined],
    [[{ name: 'ok', run: () => ({}) }], { iterations: -1 }],
    [[{ name: 'ok', run: () => ({}) }], { iterations: 1.5 }],
  ]
  for (const [workflows, options] of invalid) {
    await t.throwsAsync(runSequential(workflows as never, options), {
      instanceOf: InvalidArgumentError,
    })
  }
})

test('zero iterations save the inputs, run nothing and return no outputs', async (t) => {
  let ran = false

  const outputs = await runSequential([{ name: 'x', run: () => {
    ran = true
  } }], { iterations: 0, inputs: { a: 1 } })

  t.false(ran)
  t.deepEqual(outputs, {})
})
