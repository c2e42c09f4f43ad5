/**
 * What a run measures: the full set (`npm run bench`) or the quick one (`npm run bench:quick`,
 * for CI and for a first look: well under a minute on two cores).
 */

import { parseBytes } from './data.js'

const MiB = 1024 * 1024
/** A bound above every size (not Infinity: the config travels to suites as JSON). */
const ANY_SIZE = Number.MAX_SAFE_INTEGER

export interface BenchConfig {
  quick: boolean
  /** Handoff sizes, in bytes. */
  sizes: number[]
  /** Photograph file names to hand over; an empty list for none, undefined for all. */
  photographs?: string[]
  /** Trials per size: the first entry whose bound is >= the size applies. */
  trials: Array<[maxBytes: number, trials: number]>
  /** Untimed handoffs before the trials, for sizes up to `warmupMaxBytes`. */
  warmupMaxBytes: number
  /** The value B holds while its memory is sampled. */
  memoryBytes: number
  loadSizes: number[]
  loadRepeats: number
  /** Small values: pairs per trial and trials, in each of the two processes. */
  smallPairs: number
  smallTrials: number
  /** Orchestration: steps per call and iterations, for in-process and worker steps. */
  inProcessSteps: number
  inProcessIterations: number
  workerSteps: number
  workerIterations: number
  orchestrationTrials: number
  /** Sizes at which `save` is compared with the memcpy ceiling. */
  saveSizes: number[]
  saveTrials: number
  python: string
}

const sizes = (...texts: string[]) => texts.map(parseBytes)

/** The full run: every size up to 1 GiB, every photograph; about 10 minutes on 2 cores. */
export function fullConfig(python: string): BenchConfig {
  return {
    quick: false,
    sizes: sizes('1K', '64K', '1M', '16M', '64M', '256M', '1G'),
    trials: [[MiB, 31], [16 * MiB, 15], [64 * MiB, 11], [256 * MiB, 7], [ANY_SIZE, 5]],
    warmupMaxBytes: 64 * MiB,
    memoryBytes: 256 * MiB,
    loadSizes: sizes('1K', '64K', '1M', '16M', '64M', '256M', '1G'),
    loadRepeats: 201,
    smallPairs: 1000,
    smallTrials: 5,
    inProcessSteps: 10,
    inProcessIterations: 100,
    workerSteps: 2,
    workerIterations: 100,
    orchestrationTrials: 7,
    saveSizes: sizes('64M', '256M', '1G'),
    saveTrials: 7,
    python,
  }
}

/** The quick run: small and medium sizes, one photograph, few trials. */
export function quickConfig(python: string): BenchConfig {
  return {
    quick: true,
    sizes: sizes('1K', '1M', '64M'),
    photographs: ['chelsea.png'],
    trials: [[MiB, 9], [ANY_SIZE, 3]],
    warmupMaxBytes: MiB,
    memoryBytes: 16 * MiB,
    loadSizes: sizes('1K', '1M', '64M'),
    loadRepeats: 51,
    smallPairs: 300,
    smallTrials: 3,
    inProcessSteps: 5,
    inProcessIterations: 20,
    workerSteps: 1,
    workerIterations: 50,
    orchestrationTrials: 3,
    saveSizes: sizes('64M'),
    saveTrials: 3,
    python,
  }
}

/** The number of trials for a size under `config`. */
export function trialsFor(config: BenchConfig, bytes: number): number {
  return (config.trials.find(([maxBytes]) => bytes <= maxBytes) ?? [0, 3])[1]
}
