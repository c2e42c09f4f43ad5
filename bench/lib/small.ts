/**
 * The small-values loop: save a scalar or a short string, load it back, many times over one key,
 * as a pipeline does with its loop counters, seeds and prompts. Run in the owner process and in
 * an attached second process.
 */

import type { WorkflowContext } from '../../dist/index.js'
import { smallValue, type SmallKind } from '../peers/protocol.js'

/** Runs `pairs` save-then-load pairs on `key` and returns pairs per second. */
export async function pairsPerSecond(
  context: WorkflowContext, key: string, kind: SmallKind, pairs: number,
): Promise<number> {
  const started = process.hrtime.bigint()
  for (let i = 0; i < pairs; i += 1) {
    await context.save(key, smallValue(kind, i))
    if ((await context.load(key)) !== smallValue(kind, i)) throw new Error(`${key} lost pair ${i}`)
  }
  return pairs / (Number(process.hrtime.bigint() - started) / 1e9)
}
