#!/usr/bin/env node
// Runs the test suite against the real addon, then proves that it left nothing behind.
//
//   1. Type-checks src/ and __test__/ (tsx, which runs the tests, does not).
//   2. Runs ava on __test__/**/*.spec.ts with SHMFLOW_DIR set to a fresh temporary root.
//      Extra arguments go to ava: `npm test -- __test__/codecs.spec.ts --match '*Buffer*'`.
//   3. Fails, listing them, if any shared-memory object of shmflow's that was not there before
//      (/dev/shm/sf<run id>-<7 chars>) or anything under the temporary root is left. The suite
//      removes the temporary root only when it is clean, so that a leak can be looked at.
// Ends with a line `tests: N passed, N failed`; exits non-zero on any failure.

import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SHM_DIR = '/dev/shm'
const SEGMENT_NAME = /^sf[a-z2-7]{20}-[a-z2-7]{7}$/
const RECHECK_MS = 3000

function segments() {
  return existsSync(SHM_DIR) ? readdirSync(SHM_DIR).filter((name) => SEGMENT_NAME.test(name)) : []
}

/** Every file and folder under `dir`, except empty per-user folders (`shmflow-<uid>`). */
function leftovers(dir) {
  const found = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    const children = entry.isDirectory() ? leftovers(path) : []
    const emptyUserDir = entry.isDirectory() && /^shmflow-\d+$/.test(entry.name) &&
      children.length === 0
    if (!emptyUserDir) found.push(path, ...children)
  }
  return found
}

function typecheck() {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.test.json'], {
    cwd: root, stdio: 'inherit',
  })
  return result.status === 0
}

/** Runs ava, passing its output through, and reads its closing counts. */
function ava(testRoot, args) {
  const cli = join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs')
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: root,
    env: { ...process.env, SHMFLOW_DIR: testRoot },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let output = ''
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk)
    output = (output + chunk).slice(-20_000)
  })
  return new Promise((resolvePromise) => {
    child.on('close', (code) => resolvePromise({ code, ...counts(output) }))
  })
}

function counts(output) {
  const count = (pattern) => Number(pattern.exec(output)?.[1] ?? 0)
  const failed = count(/(\d+) tests? failed/) + count(/(\d+) uncaught exceptions?/) +
    count(/(\d+) unhandled rejections?/)
  return { passed: count(/(\d+) tests? passed/), failed }
}

/**
 * What the suite left. Objects that another shmflow user on this machine creates meanwhile would
 * look the same, but they come and go: only those still there a few seconds later count.
 */
async function lingering(before) {
  const suspects = segments().filter((name) => !before.has(name))
  if (suspects.length === 0) return []

  await new Promise((resolveDelay) => setTimeout(resolveDelay, RECHECK_MS))
  const now = new Set(segments())
  return suspects.filter((name) => now.has(name))
}

async function report(testRoot, before) {
  const shm = await lingering(before)
  const files = leftovers(testRoot).map((path) => relative(testRoot, path))
  if (shm.length === 0 && files.length === 0) {
    console.log('\nleak check: no shared-memory object and no run file left')
    return true
  }
  console.error('\nleak check FAILED: the suite left these behind')
  for (const name of shm) console.error(`  ${join(SHM_DIR, name)}`)
  for (const path of files) console.error(`  ${join(testRoot, path)}`)
  return false
}

function warnAboutOlderSegments(before) {
  if (before.size === 0) return
  console.warn(`note: ${before.size} shmflow object(s) were in ${SHM_DIR} before the run ` +
    '(not counted): another process is using shmflow, or one crashed')
}

const typed = typecheck()
const testRoot = mkdtempSync(join(tmpdir(), 'shmflow-test-'))
const before = new Set(segments())
warnAboutOlderSegments(before)

const result = await ava(testRoot, process.argv.slice(2))
const clean = await report(testRoot, before)
if (clean) rmSync(testRoot, { recursive: true, force: true })

const failed = result.failed + (clean ? 0 : 1) + (typed ? 0 : 1)
const ok = result.code === 0 && failed === 0
console.log(`tests: ${result.passed} passed, ${Math.max(failed, ok ? 0 : 1)} failed`)
process.exit(ok ? 0 : 1)
