/**
 * The datasets of a run, one at a time: each random size, then each photograph. Only one is
 * alive at a time, so that a 1 GiB value does not sit in memory while small ones are measured.
 */

import { join } from 'node:path'

import type { BenchConfig } from './config.js'
import {
  findImageDir, listPhotographs, photographDataset, randomDataset, type Dataset,
} from './data.js'
import { forceGc } from './gc.js'

const REPO = join(__dirname, '..', '..')

/** Why the photographs cannot be used on this machine, or undefined when they can. */
async function photographProblem(): Promise<string | undefined> {
  if (findImageDir(REPO) === undefined) return 'no fixtures/images folder with photographs'
  try {
    await import('sharp')
    return undefined
  } catch (error) {
    return `sharp cannot be loaded (${(error as Error).message.split('\n')[0]})`
  }
}

export async function* eachDataset(config: BenchConfig,
  missing: Array<{ id: string; reason: string }>): AsyncGenerator<Dataset> {
  for (const bytes of config.sizes) {
    yield randomDataset(bytes)
    forceGc()
  }
  if (config.photographs?.length === 0) return

  const problem = await photographProblem()
  if (problem !== undefined) {
    missing.push({ id: 'photographs', reason: problem })
    return
  }
  for (const file of listPhotographs(findImageDir(REPO) as string, config.photographs)) {
    yield await photographDataset(file)
    forceGc()
  }
}
