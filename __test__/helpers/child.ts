/** Runs TypeScript fixtures in real child processes, the way a user's other process would. */

import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { join } from 'node:path'
import type { Readable } from 'node:stream'

export const FIXTURES = join(__dirname, '..', 'fixtures')

export interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * Runs `node [nodeArgs] script args` to its end and collects its output; `env` adds to (or
 * overrides) this process's environment.
 */
export function runNode(
  nodeArgs: string[],
  args: string[],
  timeoutMs = 60_000,
  env: NodeJS.ProcessEnv = {},
): Promise<ChildResult> {
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    cwd: join(__dirname, '..', '..'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  return collect(child).finally(() => clearTimeout(timer))
}

/** The output and end of a child started with piped stdout and stderr. */
function collect(child: ChildProcessByStdio<null, Readable, Readable>): Promise<ChildResult> {
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

/** Runs a TypeScript fixture from __test__/fixtures under tsx. */
export function runFixture(name: string, args: string[], timeoutMs?: number): Promise<ChildResult> {
  return runNode(['--import', 'tsx'], [join(FIXTURES, name), ...args], timeoutMs)
}

/** Runs a fixture and parses the JSON line it prints; fails with its stderr when it fails. */
export async function fixtureJson<T>(name: string, args: string[]): Promise<T> {
  const result = await runFixture(name, args)
  if (result.code !== 0) {
    throw new Error(`fixture ${name} failed (${result.code ?? result.signal}): ${result.stderr}`)
  }
  return JSON.parse(result.stdout) as T
}

/**
 * Runs a shell script in a private mount namespace (`unshare -m`; the tests run as root), where
 * it may mount its own tmpfs over /dev/shm without touching the rest of the machine, and
 * collects its output. `env` adds to this process's environment.
 */
export function inPrivateMounts(script: string, env: NodeJS.ProcessEnv = {}):
  { child: ReturnType<typeof spawn>; result: Promise<ChildResult> } {
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return { child, result: collect(child) }
}
