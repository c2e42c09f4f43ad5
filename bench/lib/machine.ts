/**
 * The machine a run measured: the numbers only mean something next to the CPU, memory, kernel,
 * runtime versions and the load other processes put on it while the run was going.
 */

import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'

export interface Machine {
  cpu: string
  cores: number
  memoryBytes: number
  kernel: string
  os: string
  node: string
  python: string
  /** The file systems that back /dev/shm and the OS temp dir (where files and spills go). */
  shmFs: string
  tmpFs: string
  commit: string
  /** 1, 5 and 15 minute load averages at the start and the end of the run. */
  loadStart: number[]
  loadEnd?: number[]
}

function cpuModel(): string {
  const info = readFileSync('/proc/cpuinfo', 'utf8')
  const model = /^model name\s*:\s*(.+)$/m.exec(info)?.[1] ?? os.cpus()[0]?.model ?? 'unknown'
  const flags = /^flags\s*:\s*(.+)$/m.exec(info)?.[1].split(' ') ?? []
  const simd = ['avx2', 'avx512f', 'pclmulqdq'].filter((flag) => flags.includes(flag))
  return simd.length > 0 ? `${model} (${simd.join(', ')})` : model
}

function quietly(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
  } catch {
    return 'unavailable'
  }
}

/** The commit measured, and whether the working tree differed from it. */
function describeCommit(): string {
  const commit = quietly('git', ['rev-parse', '--short', 'HEAD'])
  const changes = quietly('git', ['status', '--porcelain', '--', 'crates', 'src', 'Cargo.toml'])
  if (changes === '' || changes === 'unavailable') return commit
  return `${commit} with uncommitted changes to crates/ or src/`
}

/** The mount that holds `path`: its type and options, from /proc/mounts (longest prefix). */
function fileSystemOf(path: string): string {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((line) => line.split(' '))
  const holding = mounts
    .filter(([, point]) => point !== undefined && (path === point || path.startsWith(
      point.endsWith('/') ? point : `${point}/`)))
    .sort((a, b) => b[1].length - a[1].length)[0]
  return holding === undefined ? 'unknown' : `${holding[2]} at ${holding[1]} (${holding[3]})`
}

/** Describes this machine; call once at the start of a run. */
export function describeMachine(python: string): Machine {
  return {
    cpu: cpuModel(),
    cores: os.cpus().length,
    memoryBytes: os.totalmem(),
    kernel: os.release(),
    os: `${os.type()} ${os.arch()}`,
    node: process.version,
    python: quietly(python, ['--version']),
    shmFs: fileSystemOf('/dev/shm'),
    tmpFs: fileSystemOf(os.tmpdir()),
    commit: describeCommit(),
    loadStart: os.loadavg(),
  }
}
