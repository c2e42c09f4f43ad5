/**
 * The demo's module workflow: runSequential loads this file in a child process, which attaches to
 * the run by its id. Each call makes one blur-then-sharpen pass over every image it is given and
 * returns the results under the same keys, so that the next iteration works on this one's output.
 * Images arrive as views on shared memory and leave through `save`; no pixel crosses the IPC
 * channel.
 */
import { asRgbTensor, blurThenSharpen } from './images.js'
import { FILTER_PARAMS_KEY, isImageKey, type FilterParams } from './keys.js'

/** Filters every image input; the settings come from the JSON value under `FILTER_PARAMS_KEY`. */
export default async function filterImages(
  inputs: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const params = filterParams(inputs[FILTER_PARAMS_KEY])
  const outputs: Record<string, unknown> = {}

  for (const [key, value] of Object.entries(inputs)) {
    if (!isImageKey(key)) continue
    const image = asRgbTensor(value, key)
    outputs[key] = await blurThenSharpen(image, params.blurSigma, params.sharpenSigma)
  }
  return outputs
}

function filterParams(value: unknown): FilterParams {
  const params = value as Partial<FilterParams> | undefined
  const valid = typeof params?.blurSigma === 'number' && typeof params.sharpenSigma === 'number'

  if (!valid) {
    const expected = '{ blurSigma: number, sharpenSigma: number }'
    throw new TypeError(`the value of key "${FILTER_PARAMS_KEY}" must be ${expected}`)
  }
  return params as FilterParams
}
