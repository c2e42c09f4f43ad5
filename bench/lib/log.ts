/** Progress lines on stderr, so that stdout carries only the summary. */

const started = Date.now()

export function log(message: string): void {
  const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(6)
  process.stderr.write(`[bench ${seconds} s] ${message}\n`)
}
