/**
 * The values handed from A to B: random bytes of each size, and the fixture photographs decoded
 * to float32 RGB tensors in [0, 1], the form an image pipeline passes between steps. Every
 * contender gets the very same bytes, and B's checksum is compared with the one computed here.
 */

import { randomFillSync } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'

import { checksum } from './checksum.js'

/** One value to hand over. */
export interface Dataset {
  /** A short name: '64 MiB' or the photograph's file name. */
  id: string
  kind: 'bytes' | 'tensor'
  bytes: number
  /** The raw bytes (for a tensor, its float32 data). */
  data: Buffer
  /** For tensors: [height, width, 3] of float32. */
  shape?: number[]
  /** CRC-32 of `data`. */
  crc: number
}

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

/** '1 KiB', '64 MiB', '1 GiB', or a plain byte count for odd sizes. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [['GiB', GiB], ['MiB', MiB], ['KiB', KiB]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`
  }
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(1)} MiB`
  return bytes >= KiB ? `${(bytes / KiB).toFixed(1)} KiB` : `${bytes} B`
}

/** Parses '1K', '64M', '1G' (powers of 1024) or a plain byte count. */
export function parseBytes(text: string): number {
  const match = /^(\d+)([KMG]?)(i?B)?$/i.exec(text.trim())
  if (match === null) throw new Error(`not a size: ${JSON.stringify(text)} (use 1K, 64M, 1G)`)
  const unit = { '': 1, K: KiB, M: MiB, G: GiB }[match[2].toUpperCase() as '' | 'K' | 'M' | 'G']
  return Number(match[1]) * unit
}

/** Random bytes of `bytes` length (random, so no layer can shortcut them by compression). */
export function randomDataset(bytes: number): Dataset {
  const data = Buffer.allocUnsafeSlow(bytes)
  for (let offset = 0; offset < bytes; offset += 64 * MiB) {
    randomFillSync(data, offset, Math.min(64 * MiB, bytes - offset))
  }
  return { id: formatBytes(bytes), kind: 'bytes', bytes, data, crc: checksum(data) }
}

/** The fixture photographs: ./fixtures/images of the repo, else ../shared/fixtures/images. */
export function findImageDir(repoRoot: string): string | undefined {
  const candidates = [join(repoRoot, 'fixtures', 'images'), resolve(repoRoot, '..', 'shared',
    'fixtures', 'images')]
  return candidates.find((dir) => existsSync(dir) && readdirSync(dir).length > 0)
}

/** The photograph files of `dir`, sorted by name; `only` keeps those whose names it lists. */
export function listPhotographs(dir: string, only?: readonly string[]): string[] {
  return readdirSync(dir)
    .filter((name) => /\.(png|jpe?g|webp|tiff?)$/i.test(name))
    .filter((name) => only === undefined || only.includes(name))
    .sort()
    .map((name) => join(dir, name))
}

/** Decodes a photograph with sharp into a float32 [height, width, 3] tensor in [0, 1]. */
export async function photographDataset(file: string): Promise<Dataset> {
  const { default: sharp } = await import('sharp')
  const { data: pixels, info } = await sharp(file)
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })

  const floats = new Float32Array(pixels.length)
  for (let i = 0; i < pixels.length; i += 1) floats[i] = pixels[i] / 255
  const data = Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength)
  const id = file.slice(file.lastIndexOf('/') + 1)
  const shape = [info.height, info.width, info.channels]
  return { id, kind: 'tensor', bytes: data.byteLength, data, shape, crc: checksum(data) }
}

/** The value as a Node program holds it: a Buffer, or a tensor over a Float32Array. */
export function nodeValue(dataset: Dataset): unknown {
  if (dataset.kind === 'bytes') return dataset.data
  const { data } = dataset
  const floats = new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4)
  return { data: floats, shape: dataset.shape, dtype: 'float32' }
}
