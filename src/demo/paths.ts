/**
 * Where the demo finds its own files, both when compiled (`dist/demo/*.js`) and when run from the
 * TypeScript sources (`src/demo/*.ts`, under a TypeScript loader): the layout is the same depth.
 */
import path from 'node:path'

/** The path of a sibling module of this folder, with the extension this build runs from. */
export function demoModule(name: string): string {
  return path.join(__dirname, name + path.extname(__filename))
}

/** The photographs that ship with the package (`fixtures/images`). */
export function bundledImagesDir(): string {
  return path.resolve(__dirname, '..', '..', 'fixtures', 'images')
}
