/**
 * Crash safety for real: owners killed by every terminating signal and by SIGKILL leave nothing
 * once they (or the sweep) are done, an application's own signal listener keeps working, a live
 * run is never swept, and attached readers that die take nothing of the run with them.
 *
 * Kills of owners run inside private mount namespaces with their own /dev/shm (the tests run as
 * root), so that no other process's sweep can remove what a dead owner left and hide a leak.
 */

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import test, { type ExecutionContext } from 'ava'

import { RunAliveError, WorkflowContext, removeRun, type RemovedRun, type RunInfo } from
  '../src/index.js'
import { FIXTURES, inPrivateMounts, runFixture, type ChildResult } from './helpers/child.js'
import { isGone, objectsOf, segmentsOf } from './helpers/shm.js'

interface Left {
  objects: string[]
  dir: boolean
  spillFiles: number
}

interface CrashReport {
  runId: string
  before: Left
  end: { code: number | null; signal: string | null }
  after: Left
  ownerOutput: string
  ownerErrors: string
  listed?: RunInfo | null
  swept?: RemovedRun[]
  afterSweep?: Left
  secondSweep?: RemovedRun[]
  listedAfterSweep?: boolean
}

/** A fresh private directory for run directories, removed when the test ends. */
function privateRoot(t: ExecutionContext): string {
  const root = mkdtempSync(join(tmpdir(), 'shmflow-crash-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  return root
}

/**
 * Runs crash-in-private-shm.ts with a fresh /dev/shm and run root: it kills an owner holding one
 * value per tier with `signal` and reports what was left. `ownerOptions` go to the owner.
 */
function crashInPrivateShm(t: ExecutionContext, signal: NodeJS.Signals,
  ownerOptions: string[] = []): Promise<CrashReport> {
  const root = privateRoot(t)
  const fixture = join(FIXTURES, 'crash-in-private-shm.ts')
  const script = 'mount -t tmpfs tmpfs /dev/shm && ' +
    `exec "${process.execPath}" --import tsx "${fixture}" ${[signal, ...ownerOptions].join(' ')}`
  const { child, result } = inPrivateMounts(script, { SHMFLOW_DIR: root })
  t.teardown(() => child.kill('SIGKILL'))
  return result.then(({ code, signal: endSignal, stdout, stderr }) => {
    if (code !== 0) throw new Error(`scenario failed (${code ?? endSignal}): ${stderr}`)
    return JSON.parse(stdout) as CrashReport
  })
}

/** Everything an owner with one value per tier holds: a segment, its lock, a spill dir. */
function assertHeldEveryTier(t: ExecutionContext, report: CrashReport) {
  t.is(report.before.objects.length, 2, 'one shm segment and the owner lock before the kill')
  t.true(report.before.dir, 'the run directory existed before the kill')
  t.is(report.before.spillFiles, 2, 'one mmap-file and one disk spill file before the kill')
}

const nothingLeft: Left = { objects: [], dir: false, spillFiles: 0 }

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGABRT'] as const) {
  test(`an owner killed by ${signal} dies by ${signal} and leaves nothing of its run`,
    async (t) => {
      const report = await crashInPrivateShm(t, signal)

      assertHeldEveryTier(t, report)
      t.deepEqual(report.end, { code: null, signal }, report.ownerErrors)
      t.deepEqual(report.after, nothingLeft)
    })
}

test('an owner killed by SIGKILL leaves an orphan that one sweep removes completely',
  async (t) => {
    const report = await crashInPrivateShm(t, 'SIGKILL')

    assertHeldEveryTier(t, report)
    t.deepEqual(report.end, { code: null, signal: 'SIGKILL' })
    t.is(report.after.objects.length, 2, 'SIGKILL runs no handler: the run is still there')
    t.is(report.listed?.state, 'orphaned')
    t.is(report.listed?.tiers.shm.count, 1)
    t.is(report.listed?.tiers['mmap-file'].count, 1)
    t.is(report.listed?.tiers.disk.count, 1)
    t.is(report.swept?.length, 1)
    t.is(report.swept?.[0]?.state, 'orphaned')
    t.is(report.swept?.[0]?.segments, 1)
    t.deepEqual(report.afterSweep, nothingLeft)
    t.deepEqual(report.secondSweep, [], 'a second sweep finds nothing of the run')
    t.false(report.listedAfterSweep)
  })

test('an application\'s own SIGTERM listener runs, and the run is still removed at exit',
  async (t) => {
    const report = await crashInPrivateShm(t, 'SIGTERM', ['--handler', 'SIGTERM', '7'])

    assertHeldEveryTier(t, report)
    t.is(report.ownerOutput, 'handler ran SIGTERM\n')
    t.deepEqual(report.end, { code: 7, signal: null }, report.ownerErrors)
    t.deepEqual(report.after, nothingLeft)
  })

// When the application removes its last listener of a signal (process.off, or a process.once
// listener that has run), Node resets the signal to its default action; shmflow puts its
// cleanup back.
test('an owner that stopped listening to SIGTERM still leaves nothing when killed by it',
  async (t) => {
    const report = await crashInPrivateShm(t, 'SIGTERM', ['--removed-listener', 'SIGTERM'])

    assertHeldEveryTier(t, report)
    t.is(report.ownerOutput, '', 'the removed listener does not run')
    t.deepEqual(report.end, { code: null, signal: 'SIGTERM' }, report.ownerErrors)
    t.deepEqual(report.after, nothingLeft)
  })

// A worker thread's Node layer cannot see the main thread's listeners; the native side sees
// the handler that Node installed for them.
test('an application\'s SIGTERM listener runs when a worker thread owns the run',
  async (t) => {
    const report = await crashInPrivateShm(t, 'SIGTERM', ['thread-owner', 'SIGTERM', '7'])

    assertHeldEveryTier(t, report)
    t.is(report.ownerOutput, 'handler ran SIGTERM\n')
    t.deepEqual(report.end, { code: 7, signal: null }, report.ownerErrors)
    t.deepEqual(report.after, nothingLeft)
  })

/** Saves one value per tier and returns them by key. */
async function saveEveryTier(context: WorkflowContext, fill: number) {
  const values = {
    'in-shm': Buffer.alloc(3 << 20, fill),
    'in-mmap-file': Buffer.alloc(2 << 20, fill + 1),
    'in-disk': Buffer.alloc(1 << 20, fill + 2),
  }
  await context.save('in-shm', values['in-shm'], { tier: 'shm' })
  await context.save('in-mmap-file', values['in-mmap-file'], { tier: 'mmap-file' })
  await context.save('in-disk', values['in-disk'], { tier: 'disk' })
  await context.save('json', { fill })
  return values
}

async function assertLoadsEvery(t: ExecutionContext, context: WorkflowContext,
  values: Record<string, Buffer>) {
  for (const [key, value] of Object.entries(values)) {
    t.true((await context.load<Buffer>(key)).equals(value), key)
  }
}

test('a live run is never swept by another process sweeping every few ms with no grace',
  async (t) => {
    const root = privateRoot(t)
    const context = await WorkflowContext.create({ root, sweepIntervalMs: 0 })
    t.teardown(() => context.shutdown())
    const values = await saveEveryTier(context, 10)

    const sweeper = spawn(process.execPath, ['--import', 'tsx', join(FIXTURES, 'crash-owner.ts'),
      'sweeper', root, '1000', '200'], { stdio: ['ignore', 'pipe', 'pipe'] })
    t.teardown(() => sweeper.kill('SIGKILL'))
    let stdout = ''
    let stderr = ''
    sweeper.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    sweeper.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    let ended = false
    const end = new Promise<number | null>((resolve) => sweeper.on('close', (code) => {
      ended = true
      resolve(code)
    }))
    const savedMeanwhile: Record<string, Buffer> = {}
    let savedWhileSweeping = 0
    for (let n = 0; !ended && n < 5000; n += 1) {
      const value = Buffer.alloc(4096, n % 256)
      await context.save(`meanwhile-${n}`, value)
      savedMeanwhile[`meanwhile-${n}`] = value
      if (stdout.includes('"sweeping":true')) savedWhileSweeping += 1
      await new Promise((resolve) => setTimeout(resolve, 5))
    }

    t.is(await end, 0, stderr)
    t.true(savedWhileSweeping > 20, `${savedWhileSweeping} values saved while it swept`)
    const last = stdout.trim().split('\n').pop()!
    const { sweeps, removed } = JSON.parse(last) as { sweeps: number; removed: string[] }
    t.true(sweeps >= 200, `the sweeper swept ${sweeps} times`)
    t.false(removed.includes(context.runId))
    await assertLoadsEvery(t, context, values)
    await assertLoadsEvery(t, context, savedMeanwhile)
    const error = t.throws(() => removeRun(context.runId, { root }), { instanceOf: RunAliveError })
    t.is(error?.runId, context.runId)
    await assertLoadsEvery(t, context, values)
    await context.shutdown()
    t.true(isGone(context))
  })

/** Starts a reader of the run's keys and resolves once it has read them all at least once. */
function startReader(t: ExecutionContext, runId: string, keys: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(FIXTURES, 'crash-owner.ts'),
    'reader', runId, ...keys], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => child.kill('SIGKILL'))
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const ended = new Promise<ChildResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout: '', stderr }))
  })
  const reading = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('"reading":true')) resolve()
    })
    void ended.then((end) => reject(new Error(`the reader ended (${end.code ?? end.signal}) ` +
      `before reading: ${end.stderr}`)))
  })
  return { child, reading, ended }
}

for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
  test(`an attached reader killed by ${signal} while reading takes nothing of the run`,
    async (t) => {
      const context = await WorkflowContext.create({ sweepIntervalMs: 0 })
      t.teardown(() => context.shutdown())
      const values = await saveEveryTier(context, signal === 'SIGKILL' ? 20 : 30)
      const objectsBefore = objectsOf(context.runId).sort()

      const reader = startReader(t, context.runId, Object.keys(values))
      await reader.reading
      reader.child.kill(signal)
      const end = await reader.ended

      t.is(end.signal, signal, end.stderr)
      t.deepEqual(objectsOf(context.runId).sort(), objectsBefore)
      await assertLoadsEvery(t, context, values)
      const second = await runFixture('checksum.ts', [context.runId, ...Object.keys(values)])
      t.is(second.code, 0, second.stderr)
      const sums = JSON.parse(second.stdout) as Record<string, { bytes: number }>
      for (const [key, value] of Object.entries(values)) t.is(sums[key]?.bytes, value.length, key)
      t.is(segmentsOf(context.runId).length, 2, 'the shm value and the small JSON value')
    })
}

test('shutdown called twice is harmless and leaves nothing', async (t) => {
  const context = await WorkflowContext.create({ sweepIntervalMs: 0 })
  await saveEveryTier(context, 40)

  await t.notThrowsAsync(() => context.shutdown())
  await t.notThrowsAsync(() => context.shutdown())
  t.notThrows(() => context[Symbol.dispose]())
  await t.notThrowsAsync(() => context[Symbol.asyncDispose]())
  t.true(context.closed)
  t.true(isGone(context))
})
