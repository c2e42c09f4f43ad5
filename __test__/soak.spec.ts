/**
 * Faults under load: a save cut short by SIGKILL, a SIGTERM in the middle of disposal, and
 * thousands of runs created and shut down without anything piling up.
 */

import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

import test from 'ava'

import { KeyNotFoundError, WorkflowContext, listRuns, sweepOrphans } from '../src/index.js'
import { FIXTURES, runFixture } from './helpers/child.js'
import { objectsOf } from './helpers/shm.js'

/** Starts a fixture under tsx and waits for the run id it prints first. */
async function startFixture(name: string, args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(FIXTURES, name), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: child.stdout })
  const runId = await new Promise<string>((resolve) => lines.once('line', resolve))
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)))
  return { child, runId, lines, exited }
}

/** Checks 4,096 evenly spread bytes: a partial value would mix two fills. */
function isWhole(value: Buffer): boolean {
  const first = value[0]
  const step = Math.max(1, Math.floor(value.length / 4096))
  for (let i = 0; i < value.length; i += step) if (value[i] !== first) return false
  return value[value.length - 1] === first
}

test('a 512 MiB save cut short by SIGKILL is never seen half-written, and the sweep collects it',
  async (t) => {
    const { child, runId, exited } = await startFixture('save-forever.ts', ['512'])
    t.teardown(() => child.kill('SIGKILL'))
    const reader = await WorkflowContext.attach(runId)
    let reads = 0
    const deadline = Date.now() + 1500
    while (Date.now() < deadline) {
      t.true(isWhole(await reader.load<Buffer>('big')), 'a whole value')
      reads += 1
    }
    child.kill('SIGKILL')
    t.is(await exited, 'SIGKILL')

    try {
      t.true(isWhole(await reader.load<Buffer>('big')), 'after the kill too')
    } catch (error) {
      t.true(error instanceof KeyNotFoundError, String(error))
    }
    await reader.shutdown()
    // Other test processes sweep too (every new context does), so the orphan may be gone already.
    sweepOrphans({ graceMs: 0 })
    t.deepEqual(objectsOf(runId), [], 'no segment, finished or not, is left')
    t.false(listRuns().some((run) => run.runId === runId))
    t.true(reads > 0)
  })

test('a SIGTERM during dispose gives no error and leaves nothing', async (t) => {
  const { child, runId, exited } = await startFixture('dispose-on-input.ts', ['300'])
  child.stdin.write('go\n')
  setImmediate(() => child.kill('SIGTERM'))

  const ended = await exited
  t.true(ended === 'SIGTERM' || ended === 0, `ended by ${String(ended)}`)
  t.deepEqual(objectsOf(runId), [])
})

function openFds(): number {
  return readdirSync('/proc/self/fd').length
}

/** Mappings of shmflow's shared-memory objects (live or unlinked) in this process. */
function segmentMappings(): number {
  return readFileSync('/proc/self/maps', 'utf8').split('\n')
    .filter((line) => /\/dev\/shm\/sf[a-z2-7]{20}-/.test(line)).length
}

/** V8's collector, to let views go (their mappings are released when they are collected). */
function collectGarbage(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}


test('2,000 runs created and shut down, some read from children, leave no fd, mapping or object',
  async (t) => {
    const warmUp = await WorkflowContext.create()
    await warmUp.shutdown()
    const gc = collectGarbage()
    gc()
    const before = { fds: openFds(), maps: segmentMappings() }
    const runIds: string[] = []

    for (let i = 0; i < 2000; i += 1) {
      const context = await WorkflowContext.create()
      runIds.push(context.runId)
      await context.save('value', Buffer.alloc(1024, i % 256))
      t.is((await context.load<Buffer>('value'))[0], i % 256)
      if (i % 200 === 0) {
        const child = await runFixture('checksum.ts', [context.runId, 'value'])
        t.is(child.code, 0, child.stderr)
      }
      await context.shutdown()
    }
    for (let round = 0; round < 3; round += 1) {
      gc()
      await new Promise((resolve) => setTimeout(resolve, 50))
    }

    t.true(openFds() <= before.fds, `open descriptors: ${before.fds} then ${openFds()}`)
    t.true(segmentMappings() <= before.maps,
      `segment mappings: ${before.maps} then ${segmentMappings()}`)
    // Other test processes use /dev/shm at the same time: count only what these runs named.
    const names = new Set(readdirSync('/dev/shm'))
    const left = runIds.filter((id) => [...names].some((name) => name.startsWith(`sf${id}-`)))
    t.deepEqual(left, [], 'shared-memory objects of these runs')
  })
