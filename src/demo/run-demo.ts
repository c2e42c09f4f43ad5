/**
 * The demo pipeline: photographs decoded in this process, filtered for N iterations in a child
 * process, encoded as PNG files here again, all through one run's shared memory.
 *
 * Three `runSequential` calls share one `WorkflowContext`: decode (once), filter (N iterations,
 * one child process reused across them) and encode (once). After decode and after each filter
 * iteration, an observer step hands the step's output to another process both ways, through
 * shmflow and as base64 in JSON, and records the timings; it reads the images, changes nothing.
 *
 * `runDemo` never prints: it reports progress through a callback and returns a `DemoReport`.
 */
import { mkdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { runSequential, WorkflowContext, type RunEvent, type Workflow } from '../index.js'
import { HandoffBench, type HandoffTiming } from './handoff.js'
import { asRgbTensor, decodeRgb, encodePng, listImages } from './images.js'
import { FILTER_PARAMS_KEY, imageKey, isImageKey, type FilterParams } from './keys.js'
import { demoModule } from './paths.js'

/** What to run the demo on. */
export interface DemoOptions {
  /** Folder of photographs (PNG, JPEG, WebP, TIFF, AVIF); not searched recursively. */
  imagesDir: string
  /** Folder for the PNG results; created if missing; must not be `imagesDir`. */
  outDir: string
  /** Blur-then-sharpen passes, each one working on the previous one's output; at least 1. */
  iterations: number
  /** Stops the pipeline between steps; the run's shared memory is freed all the same. */
  signal?: AbortSignal
  /** Called as work advances; `done` reaches `total` when the last PNG is written. */
  onProgress?: (progress: DemoProgress) => void
}

/** How far the demo is, in units of work (one image decoded, one iteration, one handoff, ...). */
export interface DemoProgress {
  done: number
  total: number
  /** What runs now, in a few words. */
  activity: string
}

/** One photograph through the pipeline. */
export interface DemoImage {
  file: string
  key: string
  width: number
  height: number
  /** Bytes of the decoded RGB tensor. */
  bytes: number
  output: string
  pngBytes: number
}

/** The names of the pipeline's three workflows, in order. */
export type DemoWorkflow = 'decode' | 'filter' | 'encode'

/** One workflow step of the pipeline, as runSequential reported it. */
export interface DemoStep {
  workflow: DemoWorkflow
  /** Counted from 1. */
  iteration: number
  runsIn: 'this process' | 'child process'
  durationMs: number
  /** Bytes the step saved to the context for the next step. */
  handedOverBytes: number
  /** Storage tiers of the values it saved. */
  tiers: string[]
  /** The same output handed to another process both ways; null for a step that saves nothing. */
  handoff: HandoffTiming | null
}

/** Everything the demo measured; `steps` are in the order they ran. */
export interface DemoReport {
  runId: string
  imagesDir: string
  outDir: string
  iterations: number
  filter: FilterParams
  images: DemoImage[]
  steps: DemoStep[]
  /** Wall time of the whole pipeline, handoff measurements included. */
  totalMs: number
  machine: { node: string; platform: string; cpu: string; cpus: number }
}

const FILTER: FilterParams = { blurSigma: 1.2, sharpenSigma: 1.5 }
const OBSERVER = 'compare-handoff'
const RUNS_IN: Record<DemoWorkflow, DemoStep['runsIn']> = {
  decode: 'this process',
  filter: 'child process',
  encode: 'this process',
}

/** Runs the pipeline on every photograph in `imagesDir` and returns what it measured. */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  checkOptions(options)
  const images = planImages(await listImages(options.imagesDir), options.outDir)
  await mkdir(options.outDir, { recursive: true })

  const total = 2 * images.length + 2 * options.iterations + 1
  const progress = new Progress(total, options.onProgress)
  const steps = new StepLog(progress, options.iterations)
  const start = performance.now()

  await using context = await WorkflowContext.create()
  await using bench = await HandoffBench.start(context)
  const keys = images.map((image) => image.key)
  const observer = observerWorkflow(keys, bench, steps, progress)
  const common = { context, signal: options.signal, onEvent: steps.onEvent }

  await runSequential([decodeWorkflow(images, progress), observer], common)
  const filterRun = { inputs: { [FILTER_PARAMS_KEY]: FILTER }, iterations: options.iterations }
  await runSequential([filterWorkflow(keys), observer], { ...common, ...filterRun })
  await runSequential([encodeWorkflow(images, progress)], common)

  return {
    runId: context.runId,
    imagesDir: path.resolve(options.imagesDir),
    outDir: path.resolve(options.outDir),
    iterations: options.iterations,
    filter: FILTER,
    images,
    steps: steps.steps,
    totalMs: performance.now() - start,
    machine: machine(),
  }
}

function checkOptions(options: DemoOptions): void {
  if (!Number.isSafeInteger(options.iterations) || options.iterations < 1) {
    const given = options.iterations
    throw new RangeError(`iterations must be a whole number of at least 1, not ${given}`)
  }
  if (path.resolve(options.outDir) === path.resolve(options.imagesDir)) {
    throw new RangeError('outDir must differ from imagesDir: the PNGs would overwrite the photos')
  }
}

/** One key and one PNG per photograph; of `a.jpg` and `a.png`, the second writes `a.png.png`. */
function planImages(files: string[], outDir: string): DemoImage[] {
  const taken = new Set<string>()

  return files.map((file) => {
    const name = path.basename(file)
    const stem = path.parse(name).name
    const outName = taken.has(stem) ? name : stem
    taken.add(outName)

    const output = path.resolve(outDir, `${outName}.png`)
    return { file, key: imageKey(file), width: 0, height: 0, bytes: 0, output, pngBytes: 0 }
  })
}

function decodeWorkflow(images: DemoImage[], progress: Progress): Workflow {
  return {
    name: 'decode',
    outputs: images.map((image) => image.key),
    run: async () => {
      const outputs: Record<string, unknown> = {}
      for (const image of images) {
        progress.now(`decode ${path.basename(image.file)}`)
        const tensor = await decodeRgb(image.file)
        ;[image.height, image.width] = tensor.shape
        image.bytes = tensor.data.byteLength
        outputs[image.key] = tensor
        progress.advance()
      }
      return outputs
    },
  }
}

function filterWorkflow(keys: string[]): Workflow {
  return {
    name: 'filter',
    inputs: [...keys, FILTER_PARAMS_KEY],
    outputs: keys,
    module: demoModule('filter-workflow'),
  }
}

function encodeWorkflow(images: DemoImage[], progress: Progress): Workflow {
  return {
    name: 'encode',
    inputs: images.map((image) => image.key),
    run: async (inputs) => {
      for (const image of images) {
        progress.now(`encode ${path.basename(image.output)}`)
        const tensor = asRgbTensor(inputs[image.key], image.key)
        image.pngBytes = await encodePng(tensor, image.output)
        progress.advance()
      }
      return {}
    },
  }
}

/** Reads the images the previous step saved and hands them to another process both ways. */
function observerWorkflow(
  keys: string[],
  bench: HandoffBench,
  steps: StepLog,
  progress: Progress,
): Workflow {
  return {
    name: OBSERVER,
    inputs: keys,
    run: async (inputs) => {
      progress.now('hand the images to another process, shmflow and base64 JSON')
      const images = keys.map((key) => asRgbTensor(inputs[key], key))
      steps.attachHandoff(await bench.measure(images))
      progress.advance()
      return {}
    },
  }
}

/** Turns runSequential's events into `DemoStep`s, leaving out the observer's own steps. */
class StepLog {
  readonly steps: DemoStep[] = []
  readonly #progress: Progress
  readonly #iterations: number

  constructor(progress: Progress, iterations: number) {
    this.#progress = progress
    this.#iterations = iterations
  }

  /** The handler for runSequential's `onEvent`. */
  readonly onEvent = (event: RunEvent): void => {
    if (event.type === 'workflow-start' && event.workflow === 'filter') {
      const where = `iteration ${event.iteration + 1} of ${this.#iterations}, child process`
      this.#progress.now(`filter: blur and sharpen, ${where}`)
    }
    if (event.type !== 'workflow-end' || event.workflow === OBSERVER) return

    this.steps.push(stepOf(event))
    if (event.workflow === 'filter') this.#progress.advance()
  }

  /** Records the handoff measurement of the step that ran last. */
  attachHandoff(timing: HandoffTiming): void {
    const last = this.steps.at(-1)
    if (last === undefined) throw new Error('a handoff was measured before any step ended')
    last.handoff = timing
  }
}

function stepOf(event: Extract<RunEvent, { type: 'workflow-end' }>): DemoStep {
  const saved = event.saved.filter((receipt) => isImageKey(receipt.key))
  const workflow = event.workflow as DemoWorkflow

  return {
    workflow,
    iteration: event.iteration + 1,
    runsIn: RUNS_IN[workflow],
    durationMs: event.durationMs,
    handedOverBytes: saved.reduce((sum, receipt) => sum + receipt.bytes, 0),
    tiers: [...new Set(saved.map((receipt) => receipt.tier))],
    handoff: null,
  }
}

/** Counts units of work done and tells the listener, with what runs now. */
class Progress {
  readonly #total: number
  readonly #listener: ((progress: DemoProgress) => void) | undefined
  #done = 0
  #activity = 'start'

  constructor(total: number, listener?: (progress: DemoProgress) => void) {
    this.#total = total
    this.#listener = listener
  }

  now(activity: string): void {
    this.#activity = activity
    this.#report()
  }

  advance(): void {
    this.#done = Math.min(this.#done + 1, this.#total)
    this.#report()
  }

  #report(): void {
    this.#listener?.({ done: this.#done, total: this.#total, activity: this.#activity })
  }
}

function machine(): DemoReport['machine'] {
  const cpus = os.cpus()
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
  }
}
