/** Whether this machine can run the Python contender: a python3 with the modules it uses. */

import { spawnSync } from 'node:child_process'

const CHECK = 'import fcntl, json, os, pickle, selectors, zlib\n' +
  'from multiprocessing import resource_tracker, shared_memory\n' +
  'assert hasattr(os, "mkfifo")'

/** Undefined when `python` can run the peer; otherwise why not. */
export function pythonProblem(python: string): string | undefined {
  const result = spawnSync(python, ['-c', CHECK], { encoding: 'utf8' })
  if (result.error !== undefined) return `${python} cannot be started (${result.error.message})`
  if (result.status !== 0) {
    return `${python} lacks a module the peer needs: ${result.stderr.trim().split('\n').pop()}`
  }
  return undefined
}
