/**
 * The messages between the harness (process A, or its driver) and a Node consumer B.
 *
 * A handoff message carries what the contender sends: a shmflow key, a base64 string inside
 * JSON, a value cloned by advanced serialization, or a temp file path. B answers with the time
 * stamps of its phases and the checksum of what it got; it holds the value until `release`.
 */

/** How B receives: fixed per B process, since a child's IPC serialization is fixed at fork. */
export type ReceiveMode = 'shmflow' | 'base64' | 'advanced' | 'file'

export type ToConsumer =
  | { op: 'attach'; runId: string; root: string }
  | { op: 'handoff'; key?: string; data?: unknown; path?: string; shape?: number[] }
  | { op: 'release'; collect: boolean }
  | { op: 'small'; runId: string; root: string; kind: SmallKind; pairs: number; trials: number }

export type FromConsumer =
  | { op: 'ready' }
  | { op: 'attached' }
  | { op: 'received'; tRecv: string; tDecoded: string; t1: string; crc: number }
  | { op: 'released' }
  | { op: 'small'; pairsPerSecond: number[] }
  | { op: 'error'; message: string }

/** The small values a pipeline passes around: loop counters and seeds, prompts and names. */
export type SmallKind = 'number' | 'string'

/** The value saved in pair `i` of a small-values loop. */
export function smallValue(kind: SmallKind, i: number): number | string {
  return kind === 'number' ? i : `a photograph of a lighthouse at dusk, seed ${i}`
}
