/**
 * Small values: save-and-load pairs of a number and of a short string, per second, in the
 * process that owns the run and in a second, attached process. Also the time of one save and of
 * one load alone, which says where a pair's time goes.
 */

import { WorkflowContext } from '../../dist/index.js'
import type { BenchConfig } from '../lib/config.js'
import { log } from '../lib/log.js'
import { NodeConsumer } from '../lib/processes.js'
import { pairsPerSecond } from '../lib/small.js'
import { smallValue, type SmallKind } from '../peers/protocol.js'

export interface SmallRow {
  kind: SmallKind
  where: 'owner process' | 'second process'
  pairsPerSecond: number[]
}

export interface SmallResults {
  rows: SmallRow[]
  /** Microseconds per operation, in the owner process, per trial. */
  saveUs: number[]
  loadUs: number[]
}

async function inOwner(context: WorkflowContext, kind: SmallKind, config: BenchConfig):
  Promise<SmallRow> {
  await pairsPerSecond(context, 'warmup', kind, 50)
  const rates: number[] = []
  for (let trial = 0; trial < config.smallTrials; trial += 1) {
    rates.push(await pairsPerSecond(context, `small-${kind}`, kind, config.smallPairs))
  }
  return { kind, where: 'owner process', pairsPerSecond: rates }
}

async function inSecondProcess(context: WorkflowContext, kind: SmallKind, config: BenchConfig):
  Promise<SmallRow> {
  const second = await NodeConsumer.start('shmflow')
  try {
    const answer = await second.request({ op: 'small', runId: context.runId, root: context.root,
      kind, pairs: config.smallPairs, trials: config.smallTrials }, 'small')
    return { kind, where: 'second process', pairsPerSecond: answer.pairsPerSecond }
  } finally {
    await second.stop()
  }
}

/** Microseconds per save and per load, each alone, over `count` operations. */
async function splitTimes(context: WorkflowContext, count: number): Promise<[number, number]> {
  let started = process.hrtime.bigint()
  for (let i = 0; i < count; i += 1) await context.save('split', smallValue('number', i))
  const save = Number(process.hrtime.bigint() - started) / 1e3 / count

  started = process.hrtime.bigint()
  for (let i = 0; i < count; i += 1) await context.load('split')
  const load = Number(process.hrtime.bigint() - started) / 1e3 / count
  return [save, load]
}

export async function smallSuite(config: BenchConfig): Promise<SmallResults> {
  const context = await WorkflowContext.create()
  const results: SmallResults = { rows: [], saveUs: [], loadUs: [] }
  try {
    for (const kind of ['number', 'string'] as const) {
      results.rows.push(await inOwner(context, kind, config))
      results.rows.push(await inSecondProcess(context, kind, config))
      log(`small values (${kind}): done`)
    }
    for (let trial = 0; trial < config.smallTrials; trial += 1) {
      const [save, load] = await splitTimes(context, config.smallPairs)
      results.saveUs.push(save)
      results.loadUs.push(load)
    }
  } finally {
    await context.shutdown()
  }
  return results
}
