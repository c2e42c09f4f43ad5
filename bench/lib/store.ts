/**
 * Process A's side of shmflow: one run, and saves pinned to a tier.
 *
 * The public `save(key, value, { tier })` is used when the built package honours it. A build
 * whose TypeScript layer predates the option would quietly store everything in `shm`; a probe
 * save detects that, and saves then go through the native binding (same codec, same native
 * call), so that each tier is really measured. `route` says which one a run used.
 */

import { WorkflowContext, type SaveOptions, type Tier } from '../../dist/index.js'
import { encodeValue } from '../../dist/codecs.js'
import { native, type NativeRun } from '../../dist/native.js'

export type { Tier }

export class TierStore {
  readonly context: WorkflowContext
  readonly route: 'public API' | 'native binding'
  readonly #native: NativeRun | undefined

  private constructor(context: WorkflowContext, nativeRun: NativeRun | undefined) {
    this.context = context
    this.#native = nativeRun
    this.route = nativeRun === undefined ? 'public API' : 'native binding'
  }

  /** Creates a run owned by this process, under the default root, as a user would. */
  static async create(): Promise<TierStore> {
    const context = await WorkflowContext.create()
    const options = { tier: 'disk' } as SaveOptions
    const probe = await context.save('tier-probe', Buffer.alloc(1), options)
    await context.delete('tier-probe')
    if (probe.tier === 'disk') return new TierStore(context, undefined)

    return new TierStore(context, native.NativeRun.attach(context.runId, context.root))
  }

  get runId(): string {
    return this.context.runId
  }

  get root(): string {
    return this.context.root
  }

  /** Saves `value` under `key` in `tier` only; throws if it landed anywhere else. */
  async save(key: string, value: unknown, tier: Tier): Promise<void> {
    const landed = this.#native === undefined
      ? (await this.context.save(key, value, { tier } as SaveOptions)).tier
      : this.#saveNative(key, value, tier)
    if (landed !== tier) throw new Error(`${key} went to ${landed}, not ${tier}`)
  }

  #saveNative(key: string, value: unknown, tier: Tier): string {
    const { meta, bytes } = encodeValue(key, value)
    return (this.#native as NativeRun).save(key, meta, bytes, { tier }).tier
  }

  async delete(key: string): Promise<void> {
    await this.context.delete(key)
  }

  async shutdown(): Promise<void> {
    this.#native?.shutdown()
    await this.context.shutdown()
  }
}
