/** Every codec round-trips through a real run: same type, same bytes, equal values. */

import test from 'ava'

import {
  UnsupportedValueError, WorkflowContext, type Tensor, type TypedArray,
} from '../src/index.js'

let context: WorkflowContext
let counter = 0

test.before(async () => {
  context = await WorkflowContext.create()
})

test.after.always(async () => {
  await context.shutdown()
})

/** Saves and loads `value` under a fresh key. */
async function roundTrip<T>(value: T): Promise<{ loaded: T; bytes: number }> {
  const key = `value-${counter++}`
  const receipt = await context.save(key, value)
  return { loaded: await context.load<T>(key), bytes: receipt.bytes }
}

function bytesOf(view: ArrayBufferView | ArrayBuffer): Buffer {
  if (view instanceof ArrayBuffer) return Buffer.from(view)
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength)
}

const typedArrays: Array<[string, () => TypedArray]> = [
  ['Int8Array', () => new Int8Array([-128, -1, 0, 1, 127])],
  ['Uint8Array', () => new Uint8Array([0, 1, 128, 255])],
  ['Uint8ClampedArray', () => new Uint8ClampedArray([0, 100, 255])],
  ['Int16Array', () => new Int16Array([-32768, -1, 0, 32767])],
  ['Uint16Array', () => new Uint16Array([0, 1, 65535])],
  ['Int32Array', () => new Int32Array([-(2 ** 31), -1, 0, 2 ** 31 - 1])],
  ['Uint32Array', () => new Uint32Array([0, 1, 2 ** 32 - 1])],
  ['Float32Array', () => new Float32Array([1.5, -0, Number.NaN, Infinity, -3.25e-38])],
  ['Float64Array', () => new Float64Array([Math.PI, -0, Number.NaN, -Infinity, Number.MIN_VALUE])],
  ['BigInt64Array', () => new BigInt64Array([-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n])],
  ['BigUint64Array', () => new BigUint64Array([0n, 1n, 2n ** 64n - 1n])],
]

for (const [name, make] of typedArrays) {
  test(`a ${name} comes back as a ${name} with the same bytes`, async (t) => {
    const original = make()
    const { loaded, bytes } = await roundTrip(original)

    t.is(Object.getPrototypeOf(loaded), Object.getPrototypeOf(original))
    t.is(loaded.length, original.length)
    t.is(bytes, original.byteLength)
    t.true(bytesOf(loaded).equals(bytesOf(original)))
  })
}

test('an empty Float64Array comes back as an empty Float64Array', async (t) => {
  const { loaded } = await roundTrip(new Float64Array(0))

  t.true(loaded instanceof Float64Array)
  t.is(loaded.length, 0)
})

test('a TypedArray over part of a larger buffer stores only its own elements', async (t) => {
  const whole = new Int16Array([1, 2, 3, 4, 5, 6, 7, 8])
  const part = new Int16Array(whole.buffer, 4, 3)
  const { loaded, bytes } = await roundTrip(part)

  t.deepEqual([...loaded], [3, 4, 5])
  t.is(bytes, 6)
})

test('a Buffer comes back as a Buffer with the same bytes', async (t) => {
  const original = Buffer.from('shared memory, not base64')
  const { loaded } = await roundTrip(original)

  t.true(Buffer.isBuffer(loaded))
  t.true(loaded.equals(original))
})

test('a 0-byte Buffer comes back as an empty Buffer', async (t) => {
  const { loaded, bytes } = await roundTrip(Buffer.alloc(0))

  t.true(Buffer.isBuffer(loaded))
  t.is(loaded.length, 0)
  t.is(bytes, 0)
})

test('an ArrayBuffer comes back as an ArrayBuffer with the same bytes', async (t) => {
  const original = new Uint8Array([9, 8, 7, 6, 5]).buffer
  const { loaded } = await roundTrip(original)

  t.true(loaded instanceof ArrayBuffer)
  t.true(bytesOf(loaded).equals(bytesOf(original)))
})

test('a DataView comes back as a DataView over the same bytes', async (t) => {
  const buffer = new ArrayBuffer(16)
  new DataView(buffer).setFloat64(8, 2.5, true)
  const original = new DataView(buffer, 8, 8)
  const { loaded } = await roundTrip(original)

  t.true(loaded instanceof DataView)
  t.is(loaded.byteLength, 8)
  t.is(loaded.getFloat64(0, true), 2.5)
})

const tensors: Array<[string, Tensor]> = [
  ['float32', { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3], dtype: 'float32' }],
  ['uint8', { data: new Uint8Array(2 * 2 * 3).fill(200), shape: [2, 2, 3], dtype: 'uint8' }],
  ['bool', { data: new Uint8Array([1, 0, 1]), shape: [3], dtype: 'bool' }],
  ['float16', { data: new Uint16Array([0x3c00, 0xc000]), shape: [1, 2], dtype: 'float16' }],
  ['int64', { data: new BigInt64Array([-5n, 5n]), shape: [2, 1], dtype: 'int64' }],
  ['scalar', { data: new Float64Array([42]), shape: [], dtype: 'float64' }],
  ['zero-size', { data: new Int32Array(0), shape: [0, 4], dtype: 'int32' }],
]

for (const [name, tensor] of tensors) {
  test(`a ${name} tensor comes back with its shape, dtype and data`, async (t) => {
    const { loaded } = await roundTrip(tensor)

    t.deepEqual(loaded.shape, tensor.shape)
    t.is(loaded.dtype, tensor.dtype)
    t.is(Object.getPrototypeOf(loaded.data), Object.getPrototypeOf(tensor.data))
    t.true(bytesOf(loaded.data).equals(bytesOf(tensor.data)))
  })
}

const invalidTensors: Array<[string, unknown, RegExp]> = [
  ['whose shape does not match its data', {
    data: new Float32Array(5), shape: [2, 3], dtype: 'float32',
  }, /shape \[2, 3\] holds 6 float32 elements \(24 bytes\) but data has 20 bytes/],
  ['whose data does not match its dtype', {
    data: new Uint8Array(4), shape: [4], dtype: 'float32',
  }, /dtype float32 needs data of type Float32Array, got Uint8Array/],
  ['with an unknown dtype', {
    data: new Uint8Array(4), shape: [4], dtype: 'complex64',
  }, /dtype "complex64" is not one of/],
  ['with more than 8 dimensions', {
    data: new Uint8Array(1), shape: [1, 1, 1, 1, 1, 1, 1, 1, 1], dtype: 'uint8',
  }, /at most 8 non-negative integers/],
  ['with a negative dimension', {
    data: new Uint8Array(0), shape: [-1, 0], dtype: 'uint8',
  }, /non-negative integers, got \[-1,0\]/],
]

for (const [name, tensor, message] of invalidTensors) {
  test(`a tensor ${name} is rejected before anything is stored`, async (t) => {
    const error = await t.throwsAsync(context.save('bad-tensor', tensor), {
      instanceOf: UnsupportedValueError, message,
    })

    t.is(error?.key, 'bad-tensor')
    t.is(error?.code, 'ERR_SHMFLOW_UNSUPPORTED_VALUE')
    t.false(await context.has('bad-tensor'))
  })
}

const jsonValues: Array<[string, unknown]> = [
  ['null', null],
  ['true', true],
  ['a whole number', 42],
  ['a fraction', -1.25e-300],
  ['an empty string', ''],
  ['a string with non-ASCII characters', 'héllo ☃ 🎉 \u2028'],
  ['an empty array', []],
  ['an empty object', {}],
  ['a nested object', { name: 'blur', sizes: [1, 2, 3], options: { sigma: 1.5, on: true } }],
]

for (const [name, value] of jsonValues) {
  test(`${name} is stored as JSON text and comes back equal`, async (t) => {
    const { loaded, bytes } = await roundTrip(value)

    t.deepEqual(loaded, value)
    t.is(bytes, Buffer.byteLength(JSON.stringify(value)))
  })
}

const v8Values: Array<[string, () => unknown]> = [
  ['a Map', () => new Map<unknown, unknown>([['a', 1], [2, { b: [3] }]])],
  ['a Set', () => new Set([1, 'two', 3n])],
  ['a Date', () => new Date('2024-05-06T07:08:09.010Z')],
  ['a BigInt', () => 2n ** 100n],
  ['negative zero', () => -0],
  ['NaN', () => Number.NaN],
  ['Infinity', () => Infinity],
  ['undefined', () => undefined],
  ['an object with an undefined property', () => ({ a: undefined, b: 1 })],
  ['a sparse array', () => [1, , 3]], // eslint-disable-line no-sparse-arrays
  ['a RegExp', () => /shm(flow)?/gi],
  ['an object holding a Buffer and a Float32Array', () => ({
    pixels: Buffer.from([1, 2, 3]), weights: new Float32Array([0.5, 0.25]),
  })],
]

for (const [name, make] of v8Values) {
  test(`${name} goes through V8 serialization and comes back equal`, async (t) => {
    const value = make()
    const { loaded } = await roundTrip(value)

    t.deepEqual(loaded, value)
    if (typeof value === 'number') t.true(Object.is(loaded, value))
  })
}

test('a sparse array keeps its holes', async (t) => {
  const { loaded } = await roundTrip([1, , 3]) // eslint-disable-line no-sparse-arrays

  t.false(1 in loaded)
  t.is(loaded.length, 3)
})

test('a cyclic object comes back with the same cycle', async (t) => {
  const value: { name: string; self?: unknown } = { name: 'loop' }
  value.self = value
  const { loaded } = await roundTrip(value)

  t.is(loaded.self, loaded)
})

test('a shared reference stays shared', async (t) => {
  const shared = { sigma: 2 }
  const { loaded } = await roundTrip({ first: shared, second: shared })

  t.is(loaded.first, loaded.second)
})

const rejected: Array<[string, () => unknown, string, string]> = [
  ['a function', () => () => 1, 'function', ''],
  ['a symbol', () => Symbol('port'), 'symbol', ''],
  ['a function deep inside an object', () => ({ model: { layers: [{ forward() {} }] } }),
    'function', '.model.layers[0].forward'],
  ['an instance of a class', () => new (class Model { weights = [1] })(), 'class Model', ''],
  ['a class instance inside a Map', () => new Map([['m', new (class Net {})()]]), 'class Net',
    '.get("m")'],
  ['a WeakMap', () => new WeakMap(), 'WeakMap', ''],
  ['a Promise', () => ({ pending: Promise.resolve(1) }), 'Promise', '.pending'],
  ['a subclass of Uint8Array', () => new (class Pixels extends Uint8Array {})(4), 'class Pixels',
    ''],
]

for (const [name, make, valueType, path] of rejected) {
  test(`${name} is rejected with a TypeError naming the key and the type`, async (t) => {
    const error = await t.throwsAsync(context.save('rejected', make()), {
      instanceOf: UnsupportedValueError,
    })

    t.true(error instanceof TypeError)
    t.is(error?.code, 'ERR_SHMFLOW_UNSUPPORTED_VALUE')
    t.is(error?.key, 'rejected')
    t.is(error?.valueType, valueType)
    t.is(error?.path, path)
    t.regex(error?.message ?? '', /cannot save key "rejected"/)
    t.true(error?.message.includes(valueType))
    t.false(await context.has('rejected'))
  })
}
