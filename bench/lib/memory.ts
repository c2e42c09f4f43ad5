/**
 * The memory of a process as Linux accounts for it: resident and proportional set sizes from
 * /proc/<pid>/smaps_rollup, and the peak and per-kind resident sizes from /proc/<pid>/status.
 * Read from outside the process, so Node and Python consumers are measured the same way.
 */

import { readFileSync } from 'node:fs'

/** Sizes in bytes. */
export interface MemorySample {
  /** Resident set size. */
  rss: number
  /** Proportional set size: shared pages divided among the processes that map them. */
  pss: number
  /** Peak resident set size since the process started (VmHWM). */
  peakRss: number
  /** Resident anonymous memory: the process's own copies (heap, buffers). */
  rssAnon: number
  /** Resident pages of mapped files (the page cache of a mapped spill file). */
  rssFile: number
  /** Resident pages of shared memory (tmpfs, /dev/shm segments). */
  rssShmem: number
}

function kibFields(text: string): Map<string, number> {
  const fields = new Map<string, number>()
  for (const line of text.split('\n')) {
    const match = /^(\w+):\s+(\d+) kB/.exec(line)
    if (match !== null) fields.set(match[1], Number(match[2]) * 1024)
  }
  return fields
}

/** Reads the memory of process `pid` now. */
export function sampleMemory(pid: number): MemorySample {
  const rollup = kibFields(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))
  const status = kibFields(readFileSync(`/proc/${pid}/status`, 'utf8'))
  const field = (map: Map<string, number>, name: string) => map.get(name) ?? NaN
  return {
    rss: field(rollup, 'Rss'),
    pss: field(rollup, 'Pss'),
    peakRss: field(status, 'VmHWM'),
    rssAnon: field(status, 'RssAnon'),
    rssFile: field(status, 'RssFile'),
    rssShmem: field(status, 'RssShmem'),
  }
}

/** What grew between two samples, field by field. */
export function memoryGrowth(before: MemorySample, after: MemorySample): MemorySample {
  const grown = {} as MemorySample
  for (const name of Object.keys(before) as Array<keyof MemorySample>) {
    grown[name] = after[name] - before[name]
  }
  return grown
}
