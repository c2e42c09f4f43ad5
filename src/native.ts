/**
 * The native addon: the Rust core of shmflow, built by napi-rs into `native/`.
 *
 * Loading this module loads the addon. On Windows it throws an {@link UnsupportedPlatformError}
 * at once, with a clear message, instead of the loader's "cannot find module" error.
 * Everything else in shmflow reaches the addon through {@link native}; nothing outside this
 * package should use it directly.
 *
 * @module
 * @internal
 */

import { UnsupportedPlatformError } from './errors.js'
import type * as Binding from '../native/binding.js'

export type {
  LoadedValue, NativeRun, RunUsage, SaveReceipt as NativeSaveReceipt, ValueMeta,
} from '../native/binding.js'

/** The functions and classes that the addon exports. */
export type NativeBinding = typeof Binding

function loadBinding(): NativeBinding {
  if (process.platform === 'win32') throw new UnsupportedPlatformError(process.platform)

  // The path is the same from src/ (under tsx) and from dist/: both sit beside native/.
  return require('../native/binding.js') as NativeBinding
}

/** The loaded addon. */
export const native: NativeBinding = loadBinding()
