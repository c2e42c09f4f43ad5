/**
 * The built package works for both kinds of consumer: `require('shmflow')` from CommonJS and
 * `import` from an ES module, in plain Node without any TypeScript loader, and both get the
 * same classes.
 */

import { existsSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { runNode } from './helpers/child.js'

const dist = join(__dirname, '..', 'dist')

const roundTrip = `
  const context = await WorkflowContext.create()
  await context.save('pixels', new Float32Array([0.5, 1.5]))
  const pixels = await context.load('pixels')
  const key = await context.load('missing').catch((error) => error.code)
  await context.shutdown()
  console.log(JSON.stringify({ type: pixels.constructor.name, values: [...pixels], key }))
`

const expected = { type: 'Float32Array', values: [0.5, 1.5], key: 'ERR_SHMFLOW_KEY_NOT_FOUND' }

test.before((t) => {
  if (!existsSync(join(dist, 'index.js')) || !existsSync(join(dist, 'index.mjs'))) {
    t.fail('dist/ is not built: run `npm test` (or `npm run build:ts`) first')
  }
})

test('a CommonJS consumer can require the package and round-trip a value', async (t) => {
  const script = `const { WorkflowContext } = require('shmflow');(async () => {${roundTrip}})()`

  const result = await runNode([], ['-e', script])

  t.is(result.code, 0, result.stderr)
  t.deepEqual(JSON.parse(result.stdout), expected)
})

test('an ES module consumer can import the package by name and round-trip a value',
  async (t) => {
    const script = `import { WorkflowContext } from 'shmflow'\n${roundTrip}`

    const result = await runNode(['--input-type=module'], ['-e', script])

    t.is(result.code, 0, result.stderr)
    t.deepEqual(JSON.parse(result.stdout), expected)
  })

test('import and require give the very same classes and functions', async (t) => {
  const script = `
    import * as esm from 'shmflow'
    import { createRequire } from 'node:module'
    const cjs = createRequire(import.meta.url)('shmflow')
    const names = Object.keys(esm)
    const same = names.every((name) => esm[name] === cjs[name])
    const missing = Object.keys(cjs).filter((name) => !(name in esm))
    console.log(JSON.stringify({ count: names.length, same, missing }))
  `

  const result = await runNode(['--input-type=module'], ['-e', script])

  t.is(result.code, 0, result.stderr)
  const { count, same, missing } = JSON.parse(result.stdout)
  t.true(count > 10)
  t.true(same)
  t.deepEqual(missing, [])
})

test('a module workflow runs from the built package without any TypeScript loader',
  async (t) => {
    const script = `
      const { runSequential } = require('shmflow')
      const module = ${JSON.stringify(join(__dirname, 'fixtures', 'workflows', 'plain.cjs'))}
      runSequential([{ name: 'greet', module, inputs: ['name'] }], { inputs: { name: 'dist' } })
        .then((outputs) => console.log(JSON.stringify(outputs)))
    `

    const result = await runNode([], ['-e', script])

    t.is(result.code, 0, result.stderr)
    t.deepEqual(JSON.parse(result.stdout), { greeting: 'hello, dist' })
  })

test('on Windows, loading the package fails at once with a clear message', async (t) => {
  const script = `
    Object.defineProperty(process, 'platform', { value: 'win32' })
    try {
      require('shmflow')
    } catch (error) {
      console.log(JSON.stringify({ name: error.name, code: error.code, message: error.message }))
    }
  `

  const result = await runNode([], ['-e', script])

  t.is(result.code, 0, result.stderr)
  t.deepEqual(JSON.parse(result.stdout), {
    name: 'UnsupportedPlatformError',
    code: 'ERR_SHMFLOW_UNSUPPORTED_PLATFORM',
    message: 'Windows is not supported yet: shmflow runs on Linux and macOS',
  })
})
