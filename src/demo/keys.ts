/**
 * The context keys the demo pipeline agrees on, shared by the parent and its child processes.
 *
 * Every photograph travels under its own key, so a step loads and saves one image at a time and
 * the next iteration finds each image where the previous one left it.
 */
import path from 'node:path'

const IMAGE_PREFIX = 'image/'

/** The key of the blur and sharpen settings (a JSON value) that the filter step reads. */
export const FILTER_PARAMS_KEY = 'filter/params'

/** The settings of one blur-then-sharpen pass, saved under `FILTER_PARAMS_KEY`. */
export interface FilterParams {
  blurSigma: number
  sharpenSigma: number
}

/** The key under which the image decoded from `file` is stored: one key per file name. */
export function imageKey(file: string): string {
  return IMAGE_PREFIX + path.basename(file)
}

/** Whether `key` holds an image of the pipeline (and not, say, the filter settings). */
export function isImageKey(key: string): boolean {
  return key.startsWith(IMAGE_PREFIX)
}
