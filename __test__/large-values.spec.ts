/** A value far larger than any message channel would carry goes through intact. */

import { randomFillSync } from 'node:crypto'

import test from 'ava'

import { WorkflowContext } from '../src/index.js'

const MiB = 1024 * 1024

test('a Buffer of 256 MiB comes back byte for byte', async (t) => {
  await using context = await WorkflowContext.create()
  const original = Buffer.allocUnsafe(256 * MiB)
  randomFillSync(original, 0, MiB)
  for (let offset = MiB; offset < original.length; offset += MiB) {
    original.copy(original, offset, 0, MiB)
    original.writeUInt32LE(offset, offset)
  }

  const receipt = await context.save('huge', original)
  const loaded = await context.load<Buffer>('huge')

  t.is(receipt.bytes, 256 * MiB)
  t.true(Buffer.isBuffer(loaded))
  t.is(loaded.length, original.length)
  t.true(loaded.equals(original))
})
