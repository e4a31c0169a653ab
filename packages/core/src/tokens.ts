/** Service tokens of the kernel's own services. */
import type { ConsoleDriverList } from './console.js';
import type { Heaps } from './heap.js';
import type { KernelLog } from './kernel-log.js';
import type { Env, ProgramInfo } from './klib.js';
import type { Tuple } from './manifest.js';
import type { Secrets } from './redact.js';
import { serviceToken } from './services.js';
import type { Shutdown } from './shutdown.js';
import type { Stats } from './stats.js';
import type { Timers } from './timers.js';

export const ManifestService = serviceToken<Tuple>('manifest');
export const EnvService = serviceToken<Env>('environment');
export const ProgramService = serviceToken<ProgramInfo>('program');
export const TimersService = serviceToken<Timers>('timers');
export const HeapsService = serviceToken<Heaps>('heaps');
export const ConsoleService = serviceToken<ConsoleDriverList>('console');
export const KernelLogService = serviceToken<KernelLog>('kernel-log');
export const ShutdownService = serviceToken<Shutdown>('shutdown');
export const StatsService = serviceToken<Stats>('stats');
/** Credentials to keep out of uk's messages: `add(secret)` where a klib obtains one. */
export const SecretsService = serviceToken<Secrets>('secrets');
