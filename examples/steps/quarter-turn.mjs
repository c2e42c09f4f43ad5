// A module workflow for examples/quarter-turns.mjs: runSequential runs it in a child process,
// which attaches to the run by id. It receives the `photo` tensor as a view on shared memory and
// returns it turned a quarter clockwise; the returned tensor is saved back under `photo`.
import sharp from 'sharp'

export default async function quarterTurn({ photo }) {
  const [height, width, channels] = photo.shape
  const { data, info } = await sharp(photo.data, { raw: { width, height, channels } })
    .rotate(90)
    .raw()
    .toBuffer({ resolveWithObject: true })

  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return { photo: { data: pixels, shape: [info.height, info.width, channels], dtype: 'uint8' } }
}
