#!/usr/bin/env node
// Makes a clone ready to use, and does nothing when it already is:
//   1. `npm ci` when node_modules is missing or older than package-lock.json;
//   2. the native build when native/*.node is missing or older than any file of crates/,
//      Cargo.toml or Cargo.lock;
//   3. the TypeScript build when dist/ is missing or older than any file of src/ (or the build's
//      own configuration).
// Plain Node, no dependencies: it runs before they are installed. `--force` redoes every step.

import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const force = process.argv.includes('--force')

/** Modification time in ms; -Infinity when the path does not exist. */
function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : -Infinity
}

/** The newest modification time of the files under `paths`, skipping build output folders. */
function newest(paths) {
  let time = -Infinity
  for (const path of paths) {
    if (!existsSync(path)) continue
    if (!statSync(path).isDirectory()) {
      time = Math.max(time, mtime(path))
      continue
    }
    for (const entry of readdirSync(path)) {
      if (entry === 'target' || entry === 'node_modules') continue
      time = Math.max(time, newest([join(path, entry)]))
    }
  }
  return time
}

/** Runs npm with the same npm that runs this script, when there is one. */
function npm(...args) {
  const npmCli = process.env.npm_execpath
  const [command, commandArgs] = npmCli?.endsWith('.js')
    ? [process.execPath, [npmCli, ...args]]
    : ['npm', args]
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) {
    const why = result.error?.message ?? `exit ${result.status}`
    console.error(`setup: \`npm ${args.join(' ')}\` failed (${why})`)
    process.exit(result.status || 1)
  }
}

function step(name, isStale, ...npmArgs) {
  if (!force && !isStale()) {
    console.log(`setup: ${name} up to date`)
    return
  }
  console.log(`setup: ${name}: npm ${npmArgs.join(' ')}`)
  npm(...npmArgs)
}

function dependenciesStale() {
  // npm writes node_modules/.package-lock.json on every install; it is newer than the lock then.
  const installed = mtime(join(root, 'node_modules', '.package-lock.json'))
  return installed < mtime(join(root, 'package-lock.json'))
}

function nativeStale() {
  const dir = join(root, 'native')
  const addons = existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.node')) : []
  if (addons.length === 0 || !existsSync(join(dir, 'binding.js'))) return true

  const built = Math.min(...addons.map((name) => mtime(join(dir, name))))
  const sources = ['crates', 'Cargo.toml', 'Cargo.lock'].map((path) => join(root, path))
  return built < newest(sources)
}

function typescriptStale() {
  const built = mtime(join(root, 'dist', 'index.mjs'))
  const sources = ['src', 'tsconfig.json', 'scripts/build-ts.mjs', 'native/binding.d.ts']
  return built < newest(sources.map((path) => join(root, path)))
}

step('dependencies', dependenciesStale, 'ci')
step('native addon', nativeStale, 'run', 'build:native')
step('TypeScript build', typescriptStale, 'run', 'build:ts')
