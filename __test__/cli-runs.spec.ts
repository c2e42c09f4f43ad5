/**
 * The recovery commands of the command line, run as a user would: `shmflow ls`, `sweep` and
 * `rm`, against a live run of this process.
 */

import { join } from 'node:path'

import test from 'ava'

import { WorkflowContext } from '../src/index.js'
import { runNode } from './helpers/child.js'

const CLI = join(__dirname, '..', 'dist', 'cli.js')

test('shmflow ls --json lists a live run with its owner and bytes per tier', async (t) => {
  await using context = await WorkflowContext.create()
  await context.save('pixels', Buffer.alloc(5000))

  const result = await runNode([], [CLI, 'ls', '--json'])
  const runs = JSON.parse(result.stdout) as Array<{ runId: string; state: string; pid: number
    tiers: { shm: { count: number } } }>
  const run = runs.find((r) => r.runId === context.runId)

  t.is(result.code, 0, result.stderr)
  t.is(run?.state, 'alive')
  t.is(run?.pid, process.pid)
  t.is(run?.tiers.shm.count, 1)
})

test('shmflow rm refuses a live run without --force and names it', async (t) => {
  await using context = await WorkflowContext.create()

  const result = await runNode([], [CLI, 'rm', context.runId])

  t.is(result.code, 1)
  t.regex(result.stderr, new RegExp(`run ${context.runId} is alive`))
  t.true(await context.has('nothing') === false, 'the run still answers')
})

test('shmflow sweep --dry-run never lists a live run', async (t) => {
  await using context = await WorkflowContext.create()

  const result = await runNode([], [CLI, 'sweep', '--dry-run', '--json'])
  const removed = JSON.parse(result.stdout) as Array<{ runId: string }>

  t.is(result.code, 0, result.stderr)
  t.false(removed.some((run) => run.runId === context.runId))
})
