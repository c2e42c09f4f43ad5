// runSequential over a real photograph: a module workflow in a child process turns
// fixtures/images/rocket.jpg a quarter clockwise per iteration, and an in-process workflow notes
// the shape each time. Each iteration works on what the previous one saved, so four quarter
// turns must give back the decoded photograph byte for byte, which the example checks.
//
// Run from the repository root, once built (`npm run demo` or `npm test` builds everything):
//   node examples/quarter-turns.mjs
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { runSequential } from 'shmflow'

const PHOTO = fileURLToPath(new URL('../fixtures/images/rocket.jpg', import.meta.url))
const QUARTER_TURN = fileURLToPath(new URL('./steps/quarter-turn.mjs', import.meta.url))

const { data, info } = await sharp(PHOTO).raw().toBuffer({ resolveWithObject: true })
const photo = {
  data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  shape: [info.height, info.width, info.channels],
  dtype: 'uint8',
}

const outputs = await runSequential(
  [
    { name: 'quarter-turn', inputs: ['photo'], outputs: ['photo'], module: QUARTER_TURN },
    {
      name: 'note-shape',
      inputs: ['photo'],
      run: ({ photo }, step) => {
        const [height, width] = photo.shape
        console.log(`iteration ${step.iteration + 1}: ${width}x${height} in the run's memory`)
        return {}
      },
    },
  ],
  {
    inputs: { photo },
    iterations: 4,
    onEvent: (event) => {
      if (event.type === 'run-start') console.log(`run ${event.runId}`)
    },
  },
)

const turned = outputs.photo
const same = Buffer.from(turned.data).equals(Buffer.from(photo.data))
console.log(`after four quarter turns the photograph is byte-identical to the original: ${same}`)
process.exitCode = same ? 0 : 1
