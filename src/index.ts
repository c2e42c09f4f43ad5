/**
 * shmflow: pass large data between the steps of a pipeline through shared memory.
 *
 * A {@link WorkflowContext} holds one run's values by key, in POSIX shared memory that every
 * process of the same user can attach to by run id. {@link runSequential} runs workflows in
 * order, in loops, in this process or in child processes, passing only keys between them.
 *
 * @packageDocumentation
 */

export {
  WorkflowContext, loadExported, setProcessMaxSharedBytes,
  type AttachOptions, type ByteBudget, type ContextEvents, type CreateOptions, type Fallback,
  type FallbackCounts, type FallbackEvent, type SaveOptions, type SaveReceipt, type SharedBudget,
  type Tier, type TierUsage, type Usage,
} from './context.js'
export {
  MAX_TENSOR_DIMS, isTensorLike, type DType, type Tensor, type TypedArray,
} from './codecs.js'
export {
  AbortError, ContextClosedError, CorruptSegmentError, InvalidArgumentError, KeyNotFoundError,
  NoCurrentContextError, NoSpaceError, RunAliveError, RunNotFoundError, ShmflowError,
  ShmflowIoError, UnsupportedPlatformError, UnsupportedValueError, ValueTooLargeError,
  WorkflowError, type ShmflowErrorCode, type WorkflowErrorDetails,
} from './errors.js'
export { currentContext, findContext } from './registry.js'
export {
  listRuns, removeRun, sweepOrphans, type RecoveryOptions, type RemoveOptions, type RemovedRun,
  type RunInfo, type RunState, type SweepOptions,
} from './recovery.js'
export {
  runSequential,
  type FunctionWorkflow, type ModuleWorkflow, type RunEndEvent, type RunEvent, type RunOptions,
  type RunStartEvent, type SavedValue, type StepFunction, type StepInfo, type StepOutputs,
  type Workflow, type WorkflowEndEvent, type WorkflowPorts, type WorkflowStartEvent,
} from './run-sequential.js'
export {
  WORKER_MESSAGE_CHANNEL,
  type AbortMessage, type DoneMessage, type FailedMessage, type FromWorker, type InitMessage,
  type ReadyMessage, type RunMessage, type SerializedError, type SerializedFailure, type ToWorker,
  type WorkerMessageEvent,
} from './worker-protocol.js'
