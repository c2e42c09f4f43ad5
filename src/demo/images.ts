/**
 * Photographs as tensors: the decode and encode ends of the demo pipeline, on sharp.
 *
 * Whatever a file holds (grey, alpha, a palette, 16 bits, an EXIF rotation), `decodeRgb` returns
 * an 8-bit RGB tensor of shape `[height, width, 3]`, upright: every later step relies on that.
 */
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import sharp from 'sharp'

/** An 8-bit RGB image in row-major order: `data.length === height * width * 3`. */
export interface RgbTensor {
  data: Uint8Array
  shape: [height: number, width: number, channels: 3]
  dtype: 'uint8'
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.avif'])

/**
 * The image files directly inside `dir` (by extension, not recursive), as absolute paths sorted by
 * name. Throws when there is none, naming the folder.
 */
export async function listImages(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: unknown) => {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error)
    const message = `cannot read the images folder ${path.resolve(dir)} (${reason})`
    throw new Error(message, { cause: error })
  })
  const files = entries
    .filter((entry) => entry.isFile() && IMAGE_EXTENSIONS.has(extensionOf(entry.name)))
    .map((entry) => path.resolve(dir, entry.name))
    .sort()

  if (files.length === 0) {
    const known = [...IMAGE_EXTENSIONS].join(' ')
    throw new Error(`no image files in ${path.resolve(dir)} (looked for ${known})`)
  }
  return files
}

/**
 * Decodes an image file into an upright 8-bit RGB tensor; transparency is flattened on white.
 * Throws an error naming the file when it cannot be decoded.
 */
export async function decodeRgb(file: string): Promise<RgbTensor> {
  const { data, info } = await sharp(file)
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
    .catch((error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error)
      throw new Error(`cannot decode ${file}: ${reason}`, { cause: error })
    })

  return rgbTensor(data, info.width, info.height, info.channels)
}

/**
 * Runs one blur-then-sharpen pass over an RGB tensor and returns a new tensor of the same shape.
 * The input is only read, so it may be a read-only view on shared memory.
 */
export async function blurThenSharpen(
  image: RgbTensor,
  blurSigma: number,
  sharpenSigma: number,
): Promise<RgbTensor> {
  const [height, width] = image.shape
  const { data, info } = await sharp(image.data, { raw: { width, height, channels: 3 } })
    .blur(blurSigma)
    .sharpen({ sigma: sharpenSigma, m1: 2, m2: 4 })
    .raw()
    .toBuffer({ resolveWithObject: true })

  return rgbTensor(data, info.width, info.height, info.channels)
}

/** Encodes an RGB tensor as a PNG file at `file`; resolves to the number of bytes written. */
export async function encodePng(image: RgbTensor, file: string): Promise<number> {
  const [height, width] = image.shape
  const info = await sharp(image.data, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(file)

  return info.size
}

/**
 * Checks that a value loaded from a context is an RGB tensor as `decodeRgb` makes them, and
 * returns it typed. Throws a TypeError naming `key` otherwise.
 */
export function asRgbTensor(value: unknown, key: string): RgbTensor {
  const tensor = value as Partial<RgbTensor> | null
  const shape = tensor?.shape
  const valid =
    tensor?.data instanceof Uint8Array &&
    tensor.dtype === 'uint8' &&
    Array.isArray(shape) &&
    shape.length === 3 &&
    shape[2] === 3 &&
    tensor.data.length === shape[0] * shape[1] * 3

  if (!valid) {
    throw new TypeError(`value of key "${key}" is not an RGB uint8 tensor of shape [h, w, 3]`)
  }
  return tensor as RgbTensor
}

function rgbTensor(data: Buffer, width: number, height: number, channels: number): RgbTensor {
  if (channels !== 3) {
    throw new Error(`sharp returned ${channels} channels where 3 (RGB) were expected`)
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return { data: bytes, shape: [height, width, 3], dtype: 'uint8' }
}

function extensionOf(name: string): string {
  return path.extname(name).toLowerCase()
}
