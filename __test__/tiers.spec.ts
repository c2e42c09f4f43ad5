/**
 * Storage tiers for real: small shared-memory filesystems in private mount namespaces (the tests
 * run as root), budgets, pinned tiers, and the refusal of spill roots that are not private.
 */

import { chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'

import test from 'ava'

import { NoSpaceError, WorkflowContext } from '../src/index.js'
import { FIXTURES, inPrivateMounts, runNode, type ChildResult } from './helpers/child.js'

/** Runs a scenario of tiers-in-small-shm.ts with /dev/shm replaced by a tmpfs of `shmSize`. */
function inSmallShm(scenario: string, shmSize: string, spillSize?: string): Promise<ChildResult> {
  const fixture = join(FIXTURES, 'tiers-in-small-shm.ts')
  const node = `exec "${process.execPath}" --import tsx "${fixture}" ${scenario}`
  const spillMount = spillSize === undefined ? '' :
    `mkdir -p "$SPILL" && mount -t tmpfs -o size=${spillSize} tmpfs "$SPILL" && `
  const script = `mount -t tmpfs -o size=${shmSize} tmpfs /dev/shm && ${spillMount}${node}`
  const spill = mkdtempSync(join(tmpdir(), 'shmflow-spill-'))
  const env = { SPILL: spill, ...(spillSize ? { SHMFLOW_DIR: spill } : {}) }
  return inPrivateMounts(script, env).result
    .finally(() => rmSync(spill, { recursive: true, force: true }))
}

function parsed<T>(result: ChildResult): T {
  if (result.code !== 0) {
    throw new Error(`scenario failed (${result.code ?? result.signal}): ${result.stderr}`)
  }
  return JSON.parse(result.stdout) as T
}

test('4 MiB saved into a 1 MiB /dev/shm lands in a mapped file and reads back everywhere',
  async (t) => {
    const result = parsed<{
      tier: string; reasons: string[]; sameHere: boolean; sameInChild: boolean
      childSignal: string | null; usage: { fallbacks: { count: number } }
    }>(await inSmallShm('spill', '1m'))

    t.is(result.tier, 'mmap-file')
    t.deepEqual(result.reasons, ['free-space'])
    t.true(result.sameHere)
    t.true(result.sameInChild)
    t.is(result.childSignal, null, 'no process received SIGBUS')
    t.is(result.usage.fallbacks.count, 1)
  })

test('8 MiB that fits neither a 1 MiB /dev/shm nor a 2 MiB spill root is a NoSpaceError',
  async (t) => {
    const result = parsed<{ isNoSpace: boolean; code: string; message: string; intact: boolean }>(
      await inSmallShm('full', '1m', '2m'))

    t.true(result.isNoSpace)
    t.is(result.code, 'ERR_SHMFLOW_NO_SPACE')
    t.regex(result.message, /shm: \/dev\/shm has \d+ bytes free/)
    t.regex(result.message, /mmap-file: .*shmflow-spill-.* has \d+ bytes free/)
    t.true(result.intact, 'the value saved earlier is still intact')
  })

test('a foreign file filling most of /dev/shm sends the save to the next tier', async (t) => {
  const result = parsed<{ tier: string; reasons: string[]; small: string }>(
    await inSmallShm('foreign', '1m'))

  t.is(result.tier, 'mmap-file')
  t.deepEqual(result.reasons, ['free-space'])
  t.is(result.small, 'shm', 'a value that still fits stays in shared memory')
})

test('with a budget of 0 every save goes to a file tier and loads back equal', async (t) => {
  await using context = await WorkflowContext.create({ maxSharedBytes: 0 })
  const fallbacks: string[] = []
  context.on('fallback', (event: { reason: string }) => fallbacks.push(event.reason))

  const receipt = await context.save('tensor', new Float32Array([1, 2, 3]))

  t.is(receipt.tier, 'mmap-file')
  t.deepEqual(await context.load('tensor'), new Float32Array([1, 2, 3]))
  t.deepEqual(fallbacks, ['budget'])
  const usage = await context.usage()
  t.deepEqual(usage.tiers['mmap-file'], { bytes: 12, count: 1 })
  t.deepEqual(usage.fallbacks, { count: 1, reasons: { budget: 1 } })
  t.is(usage.budget.maxSharedBytes, 0)
})

test('a pinned disk tier loads as an equal copy', async (t) => {
  await using context = await WorkflowContext.create()
  const value = new Uint8Array([9, 8, 7])

  const receipt = await context.save('pinned', value, { tier: 'disk' })
  const loaded = await context.load<Uint8Array>('pinned')
  loaded[0] = 0

  t.is(receipt.tier, 'disk')
  t.deepEqual(await context.load('pinned'), value)
})

test('spill: false turns a full budget into a NoSpaceError naming the key', async (t) => {
  await using context = await WorkflowContext.create({ maxSharedBytes: 1024 })

  const error = await t.throwsAsync(context.save('big', Buffer.alloc(4096), { spill: false }), {
    instanceOf: NoSpaceError,
  })
  t.regex(error.message, /"big"/)
  t.regex(error.message, /maxSharedBytes=1024/)
  t.false(await context.has('big'))
})

test('a budget given as a share of RAM is resolved to bytes', async (t) => {
  await using context = await WorkflowContext.create({ maxSharedBytes: '10%' })
  const usage = await context.usage()
  const ram = (await import('node:os')).totalmem()

  t.true(Math.abs(usage.budget.maxSharedBytes - ram * 0.1) < ram * 0.01)
})

test('a root whose per-user directory is a symbolic link is refused', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'shmflow-link-'))
  mkdirSync(join(root, 'elsewhere'), { mode: 0o700 })
  symlinkSync(join(root, 'elsewhere'), join(root, `shmflow-${userInfo().uid}`))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))

  await t.throwsAsync(WorkflowContext.create({ root }), { message: /symbolic link/ })
})

test('a root whose per-user directory belongs to another user is refused', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'shmflow-owner-'))
  const userDir = join(root, `shmflow-${userInfo().uid}`)
  mkdirSync(userDir, { mode: 0o700 })
  chownSync(userDir, 65534, 65534)
  t.teardown(() => rmSync(root, { recursive: true, force: true }))

  await t.throwsAsync(WorkflowContext.create({ root }), { message: /belongs to uid 65534/ })
})

test('the first fallback of a run warns once, naming the limit and how to raise it',
  async (t) => {
    await using context = await WorkflowContext.create({ maxSharedBytes: 0 })
    const warnings: Error[] = []
    const listener = (warning: Error) => {
      if (warning.message.includes(context.runId)) warnings.push(warning)
    }
    process.on('warning', listener)
    t.teardown(() => process.off('warning', listener))

    await context.save('first', Buffer.alloc(10))
    await context.save('second', Buffer.alloc(10))
    await new Promise((resolve) => setImmediate(resolve))

    t.is(warnings.length, 1)
    t.is(warnings[0]!.name, 'ShmflowWarning')
    t.regex(warnings[0]!.message, /"first".*maxSharedBytes=0.*raise the context's maxSharedBytes/)
  })

test('SHMFLOW_MAX_SHARED_BYTES sets the default budget, in bytes or as a share', async (t) => {
  const budgetWith = (value: string) => runNode(['--import', 'tsx'],
    [join(FIXTURES, 'budget-from-env.ts')], 60_000, { SHMFLOW_MAX_SHARED_BYTES: value })
  const inBytes = await budgetWith('12345')
  const asShare = await budgetWith('50%')

  t.is(JSON.parse(inBytes.stdout).maxSharedBytes, 12345)
  const ram = (await import('node:os')).totalmem()
  t.true(Math.abs(JSON.parse(asShare.stdout).maxSharedBytes - ram / 2) < ram * 0.01)
})
