/**
 * The run-recovery commands of the `shmflow` command line: `ls`, `sweep` and `rm`. Each prints a
 * readable table, or JSON with `--json`, to stdout.
 */

import { Command } from 'commander'

import {
  listRuns, removeRun, sweepOrphans, type RemovedRun, type RunInfo,
} from './recovery.js'
import { formatBytes } from './demo/report.js'

interface CommonOptions {
  root?: string
  json?: boolean
}

/** `shmflow ls`: every run of this user, its owner, alive or orphaned, and bytes per tier. */
export function lsCommand(): Command {
  return new Command('ls')
    .description('List the runs of this user: owner, alive or orphaned, and bytes per tier.')
    .option('--root <dir>', 'root of run directories (default: $SHMFLOW_DIR or the temp dir)')
    .option('--json', 'print JSON instead of a table')
    .action((options: CommonOptions) => {
      const runs = listRuns({ root: options.root })
      print(options.json ? runs : runsTable(runs), options.json)
    })
}

/** `shmflow sweep`: removes the runs whose owner died. */
export function sweepCommand(): Command {
  return new Command('sweep')
    .description('Remove every run of this user whose owner died.')
    .option('--dry-run', 'only list what would be removed')
    .option('--root <dir>', 'root of run directories (default: $SHMFLOW_DIR or the temp dir)')
    .option('--json', 'print JSON instead of a table')
    .action((options: CommonOptions & { dryRun?: boolean }) => {
      const removed = sweepOrphans({ root: options.root, dryRun: options.dryRun })
      const verb = options.dryRun ? 'would remove' : 'removed'
      print(options.json ? removed : removedTable(removed, verb), options.json)
    })
}

/** `shmflow rm RUN_ID`: removes one run; a live one only with `--force`. */
export function rmCommand(): Command {
  return new Command('rm')
    .description('Remove one run of this user; a run whose owner lives only with --force.')
    .argument('<run-id>', 'the run to remove')
    .option('--force', 'remove it even though its owner lives')
    .option('--root <dir>', 'root of run directories (default: $SHMFLOW_DIR or the temp dir)')
    .option('--json', 'print JSON instead of a table')
    .action((runId: string, options: CommonOptions & { force?: boolean }) => {
      const removed = removeRun(runId, { root: options.root, force: options.force })
      print(options.json ? removed : removedTable([removed], 'removed'), options.json)
    })
}

function print(value: unknown, json: boolean | undefined): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${String(value)}\n`)
}

function runsTable(runs: RunInfo[]): string {
  if (runs.length === 0) return 'no runs'
  const rows = runs.map((run) => [
    run.runId, run.state, run.pid === undefined ? '-' : String(run.pid),
    usage(run.tiers.shm), usage(run.tiers['mmap-file']), usage(run.tiers.disk),
  ])
  return table(['run', 'state', 'owner pid', 'shm', 'mmap-file', 'disk'], rows)
}

function removedTable(removed: RemovedRun[], verb: string): string {
  if (removed.length === 0) return `nothing to remove`
  const rows = removed.map((run) => [
    run.runId, run.state, String(run.segments), formatBytes(run.bytes), run.dir ?? '-',
  ])
  const total = removed.reduce((sum, run) => sum + run.bytes, 0)
  const summary = `${verb} ${removed.length} run(s), ${formatBytes(total)} of shared memory`
  return `${table(['run', 'state', 'segments', 'shm bytes', 'directory'], rows)}\n${summary}`
}

function usage(tier: { bytes: number; count: number }): string {
  return tier.count === 0 ? '-' : `${formatBytes(tier.bytes)} in ${tier.count}`
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')
  return [line(header), ...rows.map(line)].map((l) => l.trimEnd()).join('\n')
}
