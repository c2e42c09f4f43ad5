/**
 * The codecs: how a JavaScript value becomes the bytes and header fields of a segment, and back.
 *
 * - Binary values (Buffer, every TypedArray, ArrayBuffer, DataView) are stored as their raw bytes
 *   with their element type, and load as the same type, as a view on the mapping (no copy).
 * - Tensors `{ data, shape, dtype }` are stored as raw bytes with dtype and shape, validated first.
 * - JSON values (null, booleans, finite numbers, strings, plain objects, dense arrays) are stored
 *   as UTF-8 JSON text and load as an equal value.
 * - Anything else that structured cloning keeps intact (Map, Set, Date, BigInt, -0, NaN,
 *   `undefined`, shared references, cycles, ...) goes through V8 serialization.
 * - Functions, symbols and instances of classes that cloning would flatten into plain objects are
 *   rejected with an {@link UnsupportedValueError} naming the key, the type and where it sits.
 *
 * The numbers written into segment headers are part of the segment format and never change.
 *
 * @module
 */

import { Buffer } from 'node:buffer'
import * as v8 from 'node:v8'

import { CorruptSegmentError, UnsupportedValueError } from './errors.js'
import type { LoadedValue, ValueMeta } from './native.js'

/** Every TypedArray type that shmflow stores and gives back as the same type. */
export type TypedArray =
  | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array
  | Uint32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array

/** The element type of a tensor. `float16` data is a `Uint16Array`, `bool` a `Uint8Array`. */
export type DType =
  | 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'uint64' | 'int64'
  | 'float16' | 'float32' | 'float64' | 'bool'

/**
 * An n-dimensional array: `data` holds `product(shape)` elements of `dtype`, row-major. Loaded
 * tensors have `data` as a view on the stored value. At most 8 dimensions; `[]` is a scalar.
 */
export interface Tensor<T extends TypedArray = TypedArray> {
  /** The elements, row-major; its type must match `dtype`. */
  data: T
  /** The size of each dimension. */
  shape: number[]
  /** The element type. */
  dtype: DType
}

/** A value ready for the native layer: header fields and the bytes to copy into a segment. */
export interface EncodedValue {
  meta: ValueMeta
  bytes: Uint8Array
}

/** The codec numbers of the segment header. */
export const Codec = { bytes: 1, tensor: 2, json: 3, v8: 4 } as const

/** How a codec-1 value is given back, as stored in the segment header. */
export const Container = {
  typedArray: 0,
  buffer: 1,
  arrayBuffer: 2,
  dataView: 3,
  uint8Clamped: 4,
} as const

/** The most dimensions a tensor may have. */
export const MAX_TENSOR_DIMS = 8

type TypedArrayConstructor = { new (buffer: ArrayBuffer, offset: number, length: number): TypedArray
  readonly BYTES_PER_ELEMENT: number; readonly prototype: TypedArray }

interface DTypeInfo {
  readonly name: DType
  readonly code: number
  readonly type: TypedArrayConstructor
}

const DTYPES: readonly DTypeInfo[] = [
  { name: 'uint8', code: 1, type: Uint8Array },
  { name: 'int8', code: 2, type: Int8Array },
  { name: 'uint16', code: 3, type: Uint16Array },
  { name: 'int16', code: 4, type: Int16Array },
  { name: 'uint32', code: 5, type: Uint32Array },
  { name: 'int32', code: 6, type: Int32Array },
  { name: 'uint64', code: 7, type: BigUint64Array },
  { name: 'int64', code: 8, type: BigInt64Array },
  { name: 'float16', code: 9, type: Uint16Array },
  { name: 'float32', code: 10, type: Float32Array },
  { name: 'float64', code: 11, type: Float64Array },
  { name: 'bool', code: 12, type: Uint8Array },
]

const DTYPE_BY_NAME = new Map(DTYPES.map((info) => [info.name, info]))
const DTYPE_BY_CODE = new Map(DTYPES.map((info) => [info.code, info]))

/** Float16Array where the runtime has it (Node 24 and later); stored with dtype float16. */
const Float16Type = (globalThis as { Float16Array?: TypedArrayConstructor }).Float16Array

/** The dtype code of a plain TypedArray (container 0), by its exact prototype. */
const TYPED_ARRAY_CODES = new Map<object, number>([
  [Uint8Array.prototype, 1], [Int8Array.prototype, 2], [Uint16Array.prototype, 3],
  [Int16Array.prototype, 4], [Uint32Array.prototype, 5], [Int32Array.prototype, 6],
  [BigUint64Array.prototype, 7], [BigInt64Array.prototype, 8], [Float32Array.prototype, 10],
  [Float64Array.prototype, 11],
])
if (Float16Type !== undefined) TYPED_ARRAY_CODES.set(Float16Type.prototype, 9)

/** The types that V8 serialization gives back with the same prototype. */
const CLONEABLE_PROTOTYPES = new Set<object | null>([
  null, Object.prototype, Array.prototype, Date.prototype, RegExp.prototype, Map.prototype,
  Set.prototype, Boolean.prototype, Number.prototype, String.prototype, BigInt.prototype,
  Error.prototype, EvalError.prototype, RangeError.prototype, ReferenceError.prototype,
  SyntaxError.prototype, TypeError.prototype, URIError.prototype, ArrayBuffer.prototype,
  DataView.prototype, Buffer.prototype, Uint8ClampedArray.prototype,
  ...TYPED_ARRAY_CODES.keys(),
])

/** Built-in types that structured cloning refuses outright. */
const UNCLONEABLE_PROTOTYPES = new Set<object>([
  WeakMap.prototype, WeakSet.prototype, WeakRef.prototype, Promise.prototype,
  SharedArrayBuffer.prototype, FinalizationRegistry.prototype,
])

/**
 * Encodes `value` for storage under `key`.
 *
 * @throws {UnsupportedValueError} for functions, symbols, flattening class instances and invalid
 *   tensors; the message names the key, the type and the path inside the value.
 */
export function encodeValue(key: string, value: unknown): EncodedValue {
  const binary = encodeBinary(key, value)
  if (binary !== undefined) return binary

  if (isTensorLike(value)) return encodeTensor(key, value)

  const walk = new ValueWalk(key)
  walk.visit(value)
  return walk.isJson ? encodeJson(value) : encodeV8(key, value)
}

/**
 * Decodes a loaded value. Binary payloads become views on `loaded.data`, never copies.
 *
 * @throws {CorruptSegmentError} when the header fields do not describe a value shmflow wrote.
 */
export function decodeValue(loaded: LoadedValue, key: string): unknown {
  switch (loaded.codec) {
    case Codec.bytes:
      return decodeBinary(loaded, key)
    case Codec.tensor:
      return decodeTensor(loaded, key)
    case Codec.json:
      return JSON.parse(Buffer.from(loaded.data).toString('utf8'))
    case Codec.v8:
      return v8.deserialize(Buffer.from(loaded.data))
    default:
      throw corrupt(key, `unknown codec ${loaded.codec}`)
  }
}

/** True when `value` has the shape of a tensor: a plain object with exactly data, shape, dtype. */
export function isTensorLike(value: unknown): value is Tensor {
  if (!isPlainObject(value)) return false

  const keys = Object.keys(value)
  return keys.length === 3 && ['data', 'shape', 'dtype'].every((name) => keys.includes(name))
}

function encodeBinary(key: string, value: unknown): EncodedValue | undefined {
  if (value instanceof ArrayBuffer) {
    if (Object.getPrototypeOf(value) !== ArrayBuffer.prototype) throw subclass(key, value)
    return bytesOf(Container.arrayBuffer, 1, new Uint8Array(value))
  }
  if (!ArrayBuffer.isView(value)) return undefined

  const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  const prototype = Object.getPrototypeOf(value) as object
  if (prototype === Buffer.prototype) return bytesOf(Container.buffer, 1, bytes)
  if (prototype === DataView.prototype) return bytesOf(Container.dataView, 1, bytes)
  if (prototype === Uint8ClampedArray.prototype) return bytesOf(Container.uint8Clamped, 1, bytes)

  const dtype = TYPED_ARRAY_CODES.get(prototype)
  if (dtype === undefined) throw subclass(key, value)
  return bytesOf(Container.typedArray, dtype, bytes)
}

function bytesOf(container: number, dtype: number, bytes: Uint8Array): EncodedValue {
  return { meta: { codec: Codec.bytes, container, dtype }, bytes }
}

function subclass(key: string, value: object): UnsupportedValueError {
  const reason = 'subclasses of binary types would come back as their base type; ' +
    'pass a plain TypedArray, Buffer, ArrayBuffer or DataView over the same memory'
  return new UnsupportedValueError(key, `class ${constructorName(value)}`, '', reason)
}

function decodeBinary(loaded: LoadedValue, key: string): unknown {
  const { data } = loaded
  switch (loaded.container) {
    case Container.typedArray:
      return viewOf(loaded, key)
    case Container.buffer:
      return Buffer.from(data, 0, data.byteLength)
    case Container.arrayBuffer:
      return data
    case Container.dataView:
      return new DataView(data)
    case Container.uint8Clamped:
      return new Uint8ClampedArray(data)
    default:
      throw corrupt(key, `unknown container ${loaded.container}`)
  }
}

/** A TypedArray of the stored dtype over the whole payload. */
function viewOf(loaded: LoadedValue, key: string): TypedArray {
  const info = DTYPE_BY_CODE.get(loaded.dtype)
  if (info === undefined) throw corrupt(key, `unknown dtype ${loaded.dtype}`)

  const type = info.name === 'float16' && Float16Type !== undefined ? Float16Type : info.type
  const { byteLength } = loaded.data
  if (byteLength % type.BYTES_PER_ELEMENT !== 0) {
    throw corrupt(key, `${byteLength} bytes is not a whole number of ${info.name} elements`)
  }
  return new type(loaded.data, 0, byteLength / type.BYTES_PER_ELEMENT)
}

function encodeTensor(key: string, tensor: Tensor): EncodedValue {
  const info = tensorDType(key, tensor)
  const shape = tensorShape(key, tensor.shape)
  const { data } = tensor

  const elements = shape.reduce((product, dim) => product * dim, 1)
  const expected = elements * info.type.BYTES_PER_ELEMENT
  if (expected !== data.byteLength) {
    const reason = `shape [${shape.join(', ')}] holds ${elements} ${info.name} elements ` +
      `(${expected} bytes) but data has ${data.byteLength} bytes`
    throw new UnsupportedValueError(key, 'invalid tensor', '', reason)
  }

  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return { meta: { codec: Codec.tensor, container: 0, dtype: info.code, shape }, bytes }
}

function tensorDType(key: string, tensor: Tensor): DTypeInfo {
  const info = DTYPE_BY_NAME.get(tensor.dtype)
  if (info === undefined) {
    const names = DTYPES.map((d) => d.name).join(', ')
    const reason = `dtype ${JSON.stringify(tensor.dtype)} is not one of ${names}`
    throw new UnsupportedValueError(key, 'invalid tensor', '.dtype', reason)
  }

  if (!tensorDataMatches(info, tensor.data)) {
    const reason = `dtype ${info.name} needs data of type ${info.type.name}, ` +
      `got ${describeType(tensor.data)}`
    throw new UnsupportedValueError(key, 'invalid tensor', '.data', reason)
  }
  return info
}

function tensorDataMatches(info: DTypeInfo, data: unknown): boolean {
  if (!ArrayBuffer.isView(data)) return false

  const prototype = Object.getPrototypeOf(data) as object
  if (prototype === info.type.prototype) return true
  if (info.type === Uint8Array && prototype === Buffer.prototype) return true
  return info.name === 'float16' && prototype === Float16Type?.prototype
}

function tensorShape(key: string, shape: unknown): number[] {
  const valid = Array.isArray(shape) && shape.length <= MAX_TENSOR_DIMS &&
    shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0)
  if (!valid) {
    const reason = `shape must be an array of at most ${MAX_TENSOR_DIMS} non-negative integers, ` +
      `got ${describeShape(shape)}`
    throw new UnsupportedValueError(key, 'invalid tensor', '.shape', reason)
  }
  return [...(shape as number[])]
}

function describeShape(shape: unknown): string {
  try {
    return JSON.stringify(shape) ?? String(shape)
  } catch {
    return describeType(shape)
  }
}

function decodeTensor(loaded: LoadedValue, key: string): Tensor {
  const info = DTYPE_BY_CODE.get(loaded.dtype)
  if (info === undefined) throw corrupt(key, `unknown tensor dtype ${loaded.dtype}`)

  return { data: viewOf(loaded, key), shape: [...loaded.shape], dtype: info.name }
}

function encodeJson(value: unknown): EncodedValue {
  const bytes = Buffer.from(JSON.stringify(value), 'utf8')
  return { meta: { codec: Codec.json, container: 0, dtype: 0 }, bytes }
}

function encodeV8(key: string, value: unknown): EncodedValue {
  let bytes: Buffer
  try {
    bytes = v8.serialize(value)
  } catch (error) {
    const reason = `structured cloning refused it (${(error as Error).message})`
    throw new UnsupportedValueError(key, describeType(value), '', reason)
  }
  return { meta: { codec: Codec.v8, container: 0, dtype: 0 }, bytes }
}

function corrupt(key: string, reason: string): CorruptSegmentError {
  return new CorruptSegmentError(`the value under key "${key}" is damaged: ${reason}`, key)
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false

  const prototype = Object.getPrototypeOf(value) as object | null
  return prototype === Object.prototype || prototype === null
}

function constructorName(value: object): string {
  const prototype = Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null
  const name = prototype?.constructor?.name
  return typeof name === 'string' && name !== '' ? name : '(anonymous)'
}

/** A short name of a value's type for messages: `function`, `symbol`, `class Foo`, `Map`, ... */
function describeType(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'function') return 'function'
  if (typeof value !== 'object') return typeof value

  const prototype = Object.getPrototypeOf(value) as object | null
  if (CLONEABLE_PROTOTYPES.has(prototype)) return constructorName(value)
  if (prototype !== null && UNCLONEABLE_PROTOTYPES.has(prototype)) return constructorName(value)
  return `class ${constructorName(value)}`
}

/** One step into a value: an array index, a property name, or a place in a Map or Set. */
type PathSegment = number | string | { mapKey: unknown } | { keyOfEntry: number } | {
  entry: number
}

/**
 * One walk over a value: rejects what cannot be stored, and finds out whether the value is
 * plain JSON (kept as text) or needs V8 serialization. The path to the current place is kept as
 * a stack and only turned into text for an error, so that large arrays walk fast.
 */
class ValueWalk {
  readonly #key: string
  readonly #seen = new Set<object>()
  readonly #path: PathSegment[] = []
  #json = true

  constructor(key: string) {
    this.#key = key
  }

  /** True when JSON text would give back an equal value. */
  get isJson(): boolean {
    return this.#json
  }

  visit(value: unknown): void {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return
      case 'number':
        if (!Number.isFinite(value) || Object.is(value, -0)) this.#json = false
        return
      case 'undefined':
      case 'bigint':
        this.#json = false
        return
      case 'function':
      case 'symbol':
        throw this.#reject(value)
      default:
        if (typeof value === 'object' && value !== null) this.#visitObject(value)
    }
  }

  #visitAt(segment: PathSegment, value: unknown): void {
    this.#path.push(segment)
    this.visit(value)
    this.#path.pop()
  }

  #visitObject(value: object): void {
    // A second sighting is a shared reference or a cycle: JSON would duplicate or fail on it.
    if (this.#seen.has(value)) {
      this.#json = false
      return
    }
    this.#seen.add(value)

    const prototype = Object.getPrototypeOf(value) as object | null
    if (!CLONEABLE_PROTOTYPES.has(prototype)) throw this.#reject(value)

    if (prototype === Array.prototype) return this.#visitArray(value as unknown[])
    if (prototype === Object.prototype || prototype === null) {
      return this.#visitProperties(value as Record<string, unknown>)
    }
    this.#json = false
    if (value instanceof Map) return this.#visitMap(value)
    if (value instanceof Set) return this.#visitSet(value)
  }

  #visitArray(array: unknown[]): void {
    const names = Object.keys(array)
    // Holes and extra properties do not survive JSON; V8 keeps both.
    if (names.length !== array.length) {
      this.#json = false
      for (const name of names) {
        this.#visitAt(/^\d+$/.test(name) ? Number(name) : name, array[name as never])
      }
      return
    }
    for (let index = 0; index < array.length; index += 1) this.#visitAt(index, array[index])
  }

  #visitProperties(object: Record<string, unknown>): void {
    for (const name of Object.keys(object)) this.#visitAt(name, object[name])
  }

  #visitMap(map: Map<unknown, unknown>): void {
    let index = 0
    for (const [key, value] of map) {
      this.#visitAt({ keyOfEntry: index }, key)
      this.#visitAt({ mapKey: key }, value)
      index += 1
    }
  }

  #visitSet(set: Set<unknown>): void {
    let index = 0
    for (const value of set) {
      this.#visitAt({ entry: index }, value)
      index += 1
    }
  }

  #reject(value: unknown): UnsupportedValueError {
    const type = describeType(value)
    const path = this.#path.map(formatSegment).join('')
    return new UnsupportedValueError(this.#key, type, path, rejectionReason(type))
  }
}

function formatSegment(segment: PathSegment): string {
  if (typeof segment === 'number') return `[${segment}]`
  if (typeof segment === 'string') {
    return /^[A-Za-z_$][\w$]*$/.test(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`
  }
  if ('mapKey' in segment) return `.get(${describeMapKey(segment.mapKey)})`
  if ('keyOfEntry' in segment) return `.<key ${segment.keyOfEntry}>`
  return `.<entry ${segment.entry}>`
}

function rejectionReason(type: string): string {
  if (type.startsWith('class ')) {
    return 'structured cloning would flatten it into a plain object; store its data instead'
  }
  if (type === 'function' || type === 'symbol') {
    return `a ${type} cannot be stored; store data (JSON values, TypedArrays, Map, Set, Date, ...)`
  }
  return `structured cloning cannot copy a ${type}`
}

function describeMapKey(key: unknown): string {
  return typeof key === 'string' ? JSON.stringify(key) : describeType(key)
}
