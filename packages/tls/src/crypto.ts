/**
 * The crypto primitives request signers need (the `CryptoService` of @uk/core): SHA-256 and
 * HMAC-SHA-256 from node:crypto. `Sha256` has the shape of @smithy/signature-v4's `Checksum`
 * (`new Sha256()` hashes, `new Sha256(secret)` is an HMAC keyed with `secret`), so it can be
 * passed as the signer's `sha256` option.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import type { CryptoPrimitives, Sha256Hash } from '@uk/core';

type Data = string | ArrayBuffer | ArrayBufferView;

/** Bytes of `data` without copying; strings are UTF-8. */
function bytes(data: Data): Buffer | string {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export class Sha256 implements Sha256Hash {
  readonly #secret: Buffer | string | undefined;
  #hash: Hash | Hmac;
  #digest: Uint8Array | undefined;

  constructor(secret?: Data) {
    this.#secret = secret === undefined ? undefined : bytes(secret);
    this.#hash = this.#create();
  }

  #create(): Hash | Hmac {
    return this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
  }

  update(data: Data): void {
    if (this.#digest) throw new Error('Sha256: update after digest; call reset() first');
    this.#hash.update(bytes(data));
  }

  /** The digest; calling it again returns the same bytes. */
  digest(): Promise<Uint8Array> {
    this.#digest ??= new Uint8Array(this.#hash.digest());
    return Promise.resolve(this.#digest);
  }

  reset(): void {
    this.#hash = this.#create();
    this.#digest = undefined;
  }
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(bytes(data)).digest('hex');
}

export function hmacSha256(key: string | Uint8Array, data: string | Uint8Array): Buffer {
  return createHmac('sha256', bytes(key)).update(bytes(data)).digest();
}

export const cryptoPrimitives: CryptoPrimitives = Object.freeze({ Sha256, sha256Hex, hmacSha256 });
