#!/usr/bin/env node
/**
 * The `shmflow` command line. The only place in the package that prints: commands write results
 * to stdout, and errors and the progress bar to stderr. Exit status: 0 on success, 1 on failure,
 * 130 when interrupted with Ctrl-C (the run's shared memory is freed before exiting).
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { SingleBar, Presets } from 'cli-progress'
import { Command, InvalidArgumentError, Option } from 'commander'
import { lsCommand, rmCommand, sweepCommand } from './cli-runs.js'
import { bundledImagesDir } from './demo/paths.js'
import { formatReport } from './demo/report.js'
import { runDemo, type DemoProgress } from './demo/run-demo.js'

interface DemoCommandOptions {
  images: string
  out: string
  iterations: number
  json?: boolean
}

const PROGRESS_DELAY_MS = 1000

async function main(): Promise<void> {
  try {
    await program().parseAsync(process.argv)
  } catch (error) {
    process.stderr.write(`shmflow: ${messageOf(error)}\n`)
    process.exitCode = 1
  }
}

/** One builder per command. */
function program(): Command {
  return new Command('shmflow')
    .description('Pass pipeline data between steps and processes through shared memory.')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .addCommand(demoCommand())
    .addCommand(lsCommand())
    .addCommand(sweepCommand())
    .addCommand(rmCommand())
}

function demoCommand(): Command {
  return new Command('demo')
    .description(
      'Decode photographs, filter them for N iterations in a child process, encode them as PNG, ' +
        'and compare each handoff with base64 in JSON.',
    )
    .addOption(
      new Option('--images <dir>', 'folder of photographs').default(
        bundledImagesDir(),
        'the photographs in fixtures/images',
      ),
    )
    .option('--out <dir>', 'folder for the PNG results', 'shmflow-demo-out')
    .option('--iterations <n>', 'blur-then-sharpen passes in the child', wholeNumber, 4)
    .option('--json', 'print the report as JSON instead of a table')
    .action(demo)
}

async function demo(options: DemoCommandOptions): Promise<void> {
  const interrupt = new AbortController()
  const onSigint = () => interrupt.abort()
  process.once('SIGINT', onSigint)
  const bar = new DelayedProgressBar(process.stderr, PROGRESS_DELAY_MS)

  try {
    const report = await runDemo({
      imagesDir: options.images,
      outDir: options.out,
      iterations: options.iterations,
      signal: interrupt.signal,
      onProgress: (progress) => bar.update(progress),
    })
    bar.stop()
    const text = options.json ? JSON.stringify(report, null, 2) : formatReport(report)
    process.stdout.write(`${text}\n`)
  } catch (error) {
    if (!interrupt.signal.aborted) throw error
    process.stderr.write('shmflow: interrupted; the run\'s shared memory was freed\n')
    process.exitCode = 130
  } finally {
    bar.stop()
    process.off('SIGINT', onSigint)
  }
}

/**
 * A progress bar on a terminal's stderr that shows only once work has gone on for `delayMs`,
 * so that quick runs print nothing but their result. Off when the stream is not a terminal.
 */
class DelayedProgressBar {
  readonly #stream: NodeJS.WriteStream
  #bar: SingleBar | undefined
  #timer: NodeJS.Timeout | undefined
  #due = false
  #stopped = false

  constructor(stream: NodeJS.WriteStream, delayMs: number) {
    this.#stream = stream
    if (stream.isTTY) {
      this.#timer = setTimeout(() => (this.#due = true), delayMs)
      this.#timer.unref()
    }
  }

  update(progress: DemoProgress): void {
    if (this.#stopped || !this.#due) return

    this.#bar ??= this.#start(progress)
    this.#bar.update(progress.done, { activity: progress.activity })
  }

  /** Removes the bar from the terminal; later updates are ignored. Safe to call twice. */
  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#bar?.stop()
    this.#bar = undefined
  }

  #start(progress: DemoProgress): SingleBar {
    const bar = new SingleBar(
      {
        stream: this.#stream,
        format: '{bar} {percentage}% | {activity}',
        hideCursor: true,
        clearOnComplete: true,
      },
      Presets.shades_classic,
    )
    bar.start(progress.total, progress.done, { activity: progress.activity })
    return bar
  }
}

function wholeNumber(value: string): number {
  const number = Number(value)
  if (!Number.isSafeInteger(number) || number < 1) {
    throw new InvalidArgumentError('expected a whole number of at least 1.')
  }
  return number
}

function packageVersion(): string {
  const file = path.join(__dirname, '..', 'package.json')
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

void main()
