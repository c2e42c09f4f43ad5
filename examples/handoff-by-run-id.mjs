// Two processes share one decoded photograph through a shmflow run, by run id only.
//
// The parent decodes fixtures/images/astronaut.png into an RGB tensor and saves it; a child
// process, given nothing but the run id, attaches, loads the pixels as a view on shared memory,
// saves a greyscale version and its mean brightness, and exits. The parent loads both and writes
// the greyscale image to examples-out/astronaut-grey.png.
//
// Run from the repository root, once built (`npm run demo` or `npm test` builds everything):
//   node examples/handoff-by-run-id.mjs
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { WorkflowContext } from 'shmflow'

const PHOTO = fileURLToPath(new URL('../fixtures/images/astronaut.png', import.meta.url))
const OUTPUT = 'examples-out/astronaut-grey.png'

if (process.argv[2] === 'child') {
  await child(process.argv[3])
} else {
  await parent()
}

async function parent() {
  // In TypeScript (or Node 24+): `await using context = ...` instead of try/finally.
  const context = await WorkflowContext.create()
  try {
    const { data, info } = await sharp(PHOTO).raw().toBuffer({ resolveWithObject: true })
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    const photo = { data: pixels, shape: [info.height, info.width, 3], dtype: 'uint8' }
    const receipt = await context.save('photo', photo)
    console.log(`parent: saved ${receipt.bytes} bytes (${receipt.tier}) in run ${context.runId}`)

    const worker = fork(fileURLToPath(import.meta.url), ['child', context.runId])
    const [code] = await once(worker, 'exit')
    if (code !== 0) throw new Error(`the child process exited with code ${code}`)

    const grey = await context.load('photo/grey')
    const stats = await context.load('photo/stats')
    await writePng(grey, OUTPUT)
    console.log(`parent: mean brightness ${stats.mean.toFixed(1)} of 255; wrote ${OUTPUT}`)
  } finally {
    await context.shutdown()
  }
}

async function child(runId) {
  const context = await WorkflowContext.attach(runId)
  try {
    const photo = await context.load('photo')
    const grey = toGrey(photo)
    const mean = grey.data.reduce((sum, value) => sum + value, 0) / grey.data.length

    await context.save('photo/grey', grey)
    await context.save('photo/stats', { mean })
    console.log(`child:  attached to run ${runId}, read ${photo.data.byteLength} bytes in place`)
  } finally {
    await context.shutdown() // an attached process only closes; the run stays the parent's
  }
}

/** Rec. 709 luma of an RGB uint8 tensor, as a [height, width, 1] tensor. */
function toGrey({ data, shape: [height, width] }) {
  const grey = new Uint8Array(height * width)
  for (let pixel = 0; pixel < grey.length; pixel++) {
    const [r, g, b] = [data[3 * pixel], data[3 * pixel + 1], data[3 * pixel + 2]]
    grey[pixel] = Math.round(0.2126 * r + 0.7152 * g + 0.0722 * b)
  }
  return { data: grey, shape: [height, width, 1], dtype: 'uint8' }
}

async function writePng({ data, shape: [height, width, channels] }, file) {
  await mkdir(path.dirname(file), { recursive: true })
  await sharp(data, { raw: { width, height, channels } }).png().toFile(file)
}
