/**
 * Time stamps that compare across processes: Node's hrtime and Python's time.monotonic_ns both
 * read CLOCK_MONOTONIC, so a stamp taken in process A and one taken in process B subtract to the
 * real time between them. Handoffs are timed that way, from A's first instruction to B's last.
 */

/** Now, in nanoseconds of CLOCK_MONOTONIC, as a decimal string (survives JSON and IPC). */
export function stamp(): string {
  return process.hrtime.bigint().toString()
}

/** Milliseconds from stamp `from` to stamp `to`. */
export function msBetween(from: string, to: string): number {
  return Number(BigInt(to) - BigInt(from)) / 1e6
}

/** Milliseconds since `from`, a bigint from process.hrtime.bigint(). */
export function msSince(from: bigint): number {
  return Number(process.hrtime.bigint() - from) / 1e6
}
