/**
 * The service container. Kernel services (manifest, environment, timers, heaps, console, kernel
 * log, shutdown, stats, program) are bound at boot; a klib can provide more for the klibs that
 * depend on it (the `tls` klib provides the secure transport). Tokens are global symbols so two
 * copies of @uk/core (a klib may bundle its own) still agree on them.
 */
import { Container } from './inversify.js';
import { ukError } from './errors.js';

export interface ServiceToken<T> {
  readonly id: symbol;
  readonly name: string;
  /** Type carrier only; never set. */
  readonly __type?: T;
}

export function serviceToken<T>(name: string): ServiceToken<T> {
  return Object.freeze({ id: Symbol.for(`uk.service:${name}`), name });
}

export class Services {
  /** The underlying inversify container, for klibs that want ContainerModules or factories. */
  readonly container: Container = new Container();
  readonly #providers = new Map<symbol, string>();

  /** Binds `value` to `token`; `provider` (a klib name) is shown when two klibs clash. */
  provide<T>(token: ServiceToken<T>, value: T, provider = 'kernel'): void {
    const existing = this.#providers.get(token.id);
    if (existing !== undefined) throw new RangeError(`service ${token.name} is already provided by ${existing}`);
    this.container.bind<T>(token.id).toConstantValue(value);
    this.#providers.set(token.id, provider);
  }

  has(token: ServiceToken<unknown>): boolean {
    return this.container.isBound(token.id);
  }

  get<T>(token: ServiceToken<T>, requester?: string): T {
    if (!this.has(token)) {
      throw ukError('UK_ERR_SERVICE_MISSING', `${requester ? `${requester}: ` : ''}no loaded klib provides the ${token.name} service`, {
        where: token.name,
        fix: 'add the klib that provides it to Klibs and list it in the dependencies of the klib that uses it',
      });
    }
    return this.container.get<T>(token.id);
  }

  tryGet<T>(token: ServiceToken<T>): T | undefined {
    return this.has(token) ? this.container.get<T>(token.id) : undefined;
  }
}
