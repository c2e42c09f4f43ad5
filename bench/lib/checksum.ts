/**
 * The read that every consumer B does: a CRC-32 over every byte of the value. It makes lazy
 * mapping honest (each page must be faulted in and read) and proves B got the right bytes. The
 * Python peer uses zlib.crc32 too, so both languages pay for the same algorithm.
 */

import { crc32 as zlibCrc32 } from 'node:zlib'

/** The bytes of any binary value, without a copy. */
export function bytesOf(value: ArrayBufferView | ArrayBuffer): Uint8Array {
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
}

/** CRC-32 (zlib's) of every byte of `value`. */
export function checksum(value: ArrayBufferView | ArrayBuffer): number {
  if (typeof zlibCrc32 !== 'function') {
    throw new Error('zlib.crc32 needs Node 20.15 or later; this is ' + process.version)
  }
  return zlibCrc32(bytesOf(value))
}
