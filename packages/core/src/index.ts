/** @uk/core: the public API for klib authors and embedders. */
export { ErrorCodes, UkError, isUkError, reasonOf, ukError, type ErrorCode, type UkErrorDetails } from './errors.js';
export { Tuple, Vector, parseSize, type ManifestValue, type UintOptions } from './manifest.js';
export { OptionsReader } from './options.js';
export { loadOpsConfig, MAX_CONFIG_BYTES, opsConfigFromJSON, OPS_KEYS, type OpsConfig } from './config.js';
export { Backoff, ManualClock, Timers, systemClock, type BackoffOptions, type Clock, type TimerHandle } from './timers.js';
export { Heap, Heaps, type HeapStats } from './heap.js';
export {
  ConsoleDriverList,
  parseConsoleToggles,
  splitGroups,
  type ConsoleDriver,
  type ConsoleRecord,
  type ProgramStream,
  type RecordSource,
} from './console.js';
export { copyPlainJsonBytes } from './json-bytes.js';
export { LineFramer, lineText, type LineBlock, type LineFramerOptions } from './line-framer.js';
export { LineGrouper, type LineGrouperOptions } from './multiline/grouper.js';
export { autoRule } from './multiline/auto-rules.js';
export { startRule } from './multiline/start-rule.js';
export { isJsonObjectLine, type Action, type GroupRule, type Step } from './multiline/rule.js';
export { MULTILINE_MAX_LINES, DEFAULT_MULTILINE_TIMEOUT_MS, type MultilineSettings } from './multiline/settings.js';
export { KernelLog, type LogLevel } from './kernel-log.js';
export { MAX_SECRETS, MIN_SECRET_LENGTH, REDACTED, SECRET_HEAD, Secrets } from './redact.js';
export { Counter, Stats } from './stats.js';
export { Shutdown, type ShutdownHook, type ShutdownReport } from './shutdown.js';
export { Services, serviceToken, type ServiceToken } from './services.js';
export * as tokens from './tokens.js';
export {
  defineKlib,
  dependenciesOf,
  isKlib,
  type Env,
  type Klib,
  type KlibContext,
  type KlibDefinition,
  type KlibLog,
  type OptionsInput,
  type ProgramInfo,
} from './klib.js';
export { BUILTIN_KLIBS, orderKlibs, resolveKlib, type OrderResult, type ResolvedKlib } from './loader.js';
export {
  Kernel,
  programEnv,
  readKernelSettings,
  type BootReport,
  type KernelOptions,
  type KernelSettings,
  type KlibReport,
  type KlibStatus,
} from './kernel.js';
export { serialDriver } from './serial.js';
export { supervise, FORWARDED_SIGNALS, type SuperviseOptions, type SuperviseResult } from './supervisor.js';
export { validateConfig, type ValidationResult } from './validate.js';
export { prefixLog } from './klib-log.js';
export { delivered, drop, retry, STALL_MS, type CloseOptions, type Delivered, type Drop, type ReadySignal, type Retry, type SendResult } from './delivery.js';
export { BackgroundSetup, SETUP_BACKOFF, type BackgroundSetupOptions } from './background-setup.js';
export { Batcher, DELIVERY_BACKOFF, isUncertain, type BackpressureOptions, type BatcherCounters, type BatcherOptions } from './batcher.js';
export {
  CryptoService,
  HttpClientService,
  SecureTransportService,
  type CryptoPrimitives,
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
  type SecureConnectOptions,
  type SecureTransport,
  type Sha256Hash,
} from './secure-transport.js';
export { parseMeminfo, readMeminfo } from './meminfo.js';
export { Spool, type AppendResult, type SpoolCounters, type SpoolSettings, type SpooledRecord, type WhenFull } from './spool/spool.js';
export { SpoolDestinations, destinationDirName, type BatcherSpool, type SpoolCodec } from './spool/destinations.js';
export { readKlibSpoolOptions, SPOOL_OPTION_KEYS, type KlibSpoolOptions, type SpoolKernelSettings } from './spool/settings.js';
export { encodeFrame, frameAt, scanSegment, FRAME_HEADER_BYTES, SEGMENT_MAGIC } from './spool/frame.js';
export { FSYNC_POLICIES, type FsyncPolicy } from './spool/segment-files.js';
export { consoleRecordCodec } from './spool/record-codec.js';
