/**
 * The benchmark harness: `npm run bench` (full) and `npm run bench:quick` (quick, for CI).
 *
 * Runs each suite in a fresh process, one after the other, then writes the report (Markdown),
 * the chart (SVG) and the raw numbers (JSON): to bench/results/latest.* for a full run, to
 * bench/results/quick/ for a quick one, to bench/results/tmp/ for a full run of some suites only
 * (--only), or to --out DIR. Prints the targets and the handoff
 * table. Exits non-zero when a suite fails; never because of a time.
 *
 * Options: --quick, --out DIR, --only handoff,load,... , --python PATH (or $PYTHON), and
 * --render FILE.json to write a run's report and chart again from its raw numbers.
 */

import { fork } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, relative } from 'node:path'
import { parseArgs } from 'node:util'

import { fullConfig, quickConfig, type BenchConfig } from './lib/config.js'
import { log } from './lib/log.js'
import { describeMachine } from './lib/machine.js'
import { SUITES, type BenchResults, type SuiteName } from './lib/results.js'
import { renderMarkdown, renderSummary } from './report/markdown.js'
import { renderChart } from './report/svg.js'

const REPO = join(__dirname, '..')

interface SuiteAnswer {
  ok: boolean
  results?: unknown
  error?: string
}

/** Runs one suite in a child process (which inherits the tsx loader) and returns its results. */
function runSuite(name: SuiteName, config: BenchConfig): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = fork(join(__dirname, 'suite.ts'), [name, JSON.stringify(config)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    let answer: SuiteAnswer | undefined
    child.on('message', (message: SuiteAnswer) => (answer = message))
    child.on('exit', (code, signal) => {
      if (answer?.ok === true) resolve(answer.results)
      else reject(new Error(answer?.error ?? `suite ${name} died (${signal ?? `exit ${code}`})`))
    })
  })
}

function options() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      only: { type: 'string' },
      python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
      render: { type: 'string' },
    },
  })
  const only = values.only?.split(',').map((name) => name.trim()) ?? [...SUITES]
  const unknown = only.filter((name) => !SUITES.includes(name as SuiteName))
  if (unknown.length > 0) throw new Error(`unknown suite ${unknown.join(', ')}; ` +
    `the suites are ${SUITES.join(', ')}`)
  // Only a complete full run may replace the committed latest.* files.
  const partial = only.length < SUITES.length
  const folder = values.quick ? 'quick' : partial ? 'tmp' : ''
  const out = values.out ?? join(REPO, 'bench', 'results', folder)
  return { quick: values.quick, out, only: only as SuiteName[], python: values.python,
    render: values.render }
}

/** JSON with 4 significant digits, number arrays and flat numeric objects (a handoff's phases)
 * on one line each: readable, and small in git. */
function compactJson(results: BenchResults): string {
  const rounded = (_key: string, value: unknown) =>
    typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(4)) : value
  return JSON.stringify(results, rounded, 1)
    .replace(/\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]/g,
      (_match, items: string) => `[${items.split(/,\s*/).join(', ')}]`)
    .replace(/\{\s*("\w+": -?[\d.e+-]+(?:,\s*"\w+": -?[\d.e+-]+)*)\s*\}/g,
      (_match, fields: string) => `{ ${fields.split(/,\s*/).join(', ')} }`)
}

function writeResults(results: BenchResults, out: string): void {
  mkdirSync(out, { recursive: true })
  writeFileSync(join(out, 'latest.json'), compactJson(results) + '\n')
  writeFileSync(join(out, 'latest.svg'), renderChart(results))
  writeFileSync(join(out, 'latest.md'), renderMarkdown(results, 'latest.svg'))
}

/** Writes the report and chart again from a run's JSON, beside it (after a change to report/). */
function rerender(file: string): number {
  const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults
  const dir = dirname(file)
  writeFileSync(join(dir, 'latest.svg'), renderChart(results))
  writeFileSync(join(dir, 'latest.md'), renderMarkdown(results, 'latest.svg'))
  process.stdout.write(`${renderSummary(results)}\n`)
  return 0
}

async function main(): Promise<number> {
  if (!existsSync(join(REPO, 'dist', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run setup` (or `npm run build`) first')
  }
  const { quick, out, only, python, render } = options()
  if (render !== undefined) return rerender(render)
  const config = quick ? quickConfig(python) : fullConfig(python)
  const started = Date.now()
  const results: BenchResults = {
    kind: quick ? 'quick' : 'full', date: new Date(started).toISOString(), durationSeconds: 0,
    machine: describeMachine(python), config, failures: [],
  }
  log(`${results.kind} run; load average ${os.loadavg().map((v) => v.toFixed(2)).join(', ')}`)

  for (const name of only) {
    try {
      ;(results as unknown as Record<string, unknown>)[name] = await runSuite(name, config)
    } catch (error) {
      results.failures.push({ suite: name, error: (error as Error).message })
      log(`suite ${name} failed: ${(error as Error).message}`)
    }
  }
  results.durationSeconds = (Date.now() - started) / 1000
  results.machine.loadEnd = os.loadavg()

  writeResults(results, out)
  process.stdout.write(`${renderSummary(results)}\n\nReport: ${relative(process.cwd(),
    join(out, 'latest.md'))} (chart: latest.svg, raw numbers: latest.json)\n`)
  return results.failures.length === 0 ? 0 : 1
}

main().then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).message}\n`)
  process.exit(1)
})
