/**
 * A full garbage collection on demand, between trials and never inside a timed region, so that
 * the garbage of one trial (mappings, copies, strings) is not charged to the next one.
 */

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

type Collect = () => void

function findGc(): Collect {
  const exposed = (globalThis as { gc?: Collect }).gc
  if (exposed !== undefined) return exposed

  // Works without --expose-gc on the command line: the flag is read when a context is created.
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as Collect
}

const collect = findGc()

/** Runs a full, synchronous collection (twice: finalizers of the first free more in the second). */
export function forceGc(): void {
  collect()
  collect()
}
