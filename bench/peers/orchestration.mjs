// Orchestration overhead, run by plain Node against dist/ (no TypeScript loader), so that the
// worker processes runSequential forks start as fast as they would for a user.
// argv[2]: the settings as JSON. Prints one JSON line with the samples, in milliseconds.

import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

import { runSequential, WorkflowContext } from '../../dist/index.mjs'

const EMPTY_STEP = join(dirname(fileURLToPath(import.meta.url)), 'empty-step.mjs')

async function timed(action) {
  const started = process.hrtime.bigint()
  await action()
  return Number(process.hrtime.bigint() - started) / 1e6
}

function functionSteps(count) {
  return Array.from({ length: count }, (_, i) => ({ name: `step-${i}`, run: () => undefined }))
}

function moduleSteps(count) {
  return Array.from({ length: count }, (_, i) => ({ name: `worker-${i}`, module: EMPTY_STEP }))
}

/** Per in-process step: one call of `steps` steps for `iterations` iterations, divided out. */
async function inProcess(context, settings) {
  const { inProcessSteps: steps, inProcessIterations: iterations } = settings
  const workflows = functionSteps(steps)
  await runSequential(workflows, { iterations: 2, context })
  const samples = []
  for (let trial = 0; trial < settings.orchestrationTrials; trial += 1) {
    const ms = await timed(() => runSequential(workflows, { iterations, context }))
    samples.push(ms / (steps * iterations))
  }
  return samples
}

/**
 * Per worker step, steady state: in a call of 1 + N iterations, the time from the end of the
 * first iteration (workers forked, attached, module imported) to the end of the last, divided
 * by the N iterations' steps. A fresh call of 1 iteration is the cold cost of a call.
 */
async function inWorkers(context, settings) {
  const { workerSteps: steps, workerIterations: iterations } = settings
  const workflows = moduleSteps(steps)
  await runSequential(workflows, { iterations: 1, context })
  const steady = []
  const cold = []
  for (let trial = 0; trial < settings.orchestrationTrials; trial += 1) {
    cold.push(await timed(() => runSequential(workflows, { iterations: 1, context })))
    const ends = []
    const onEvent = (event) => {
      if (event.type === 'workflow-end' && event.index === steps - 1) ends.push(performance.now())
    }
    await runSequential(workflows, { iterations: 1 + iterations, context, onEvent })
    steady.push((ends[ends.length - 1] - ends[0]) / (steps * iterations))
  }
  return { steady, cold }
}

/** A whole call with its own context (create, one empty step, shutdown). */
async function wholeCall(settings) {
  const workflows = functionSteps(1)
  await runSequential(workflows)
  const samples = []
  for (let trial = 0; trial < settings.orchestrationTrials; trial += 1) {
    samples.push(await timed(() => runSequential(workflows)))
  }
  return samples
}

const settings = JSON.parse(process.argv[2])
const context = await WorkflowContext.create()
try {
  const inProcessMs = await inProcess(context, settings)
  const { steady, cold } = await inWorkers(context, settings)
  const wholeCallMs = await wholeCall(settings)
  process.stdout.write(JSON.stringify({
    inProcessMs, workerSteadyMs: steady, workerColdCallMs: cold, wholeCallMs,
  }) + '\n')
} finally {
  await context.shutdown()
}
