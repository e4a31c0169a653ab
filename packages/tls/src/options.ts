/**
 * The `tls` tuple: `ca_file`, `min_version`, `reject_unauthorized`. Checked (and the CA file read)
 * at boot and by `uk validate`, so a bad path is reported before any connection is tried.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { OptionsReader, ukError, type OptionsInput } from '@uk/core';

export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

export const TLS_OPTION_KEYS = ['ca_file', 'min_version', 'reject_unauthorized'] as const;

export interface TlsOptions {
  /** Absolute path of the extra CA bundle, if any. */
  readonly caFile: string | undefined;
  /** PEM text of `ca_file` (one or more certificates). */
  readonly caPem: string | undefined;
  readonly minVersion: TlsVersion;
  readonly rejectUnauthorized: boolean;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates in `text` (anything else in the file, such as comments, is ignored). */
export function pemCertificates(text: string): string[] {
  return text.match(PEM_CERTIFICATE) ?? [];
}

export function readTlsOptions({ config }: OptionsInput): TlsOptions {
  const reader = new OptionsReader('tls', config);
  reader.allowKeys(TLS_OPTION_KEYS);
  const caFileText = reader.read((t) => t.string('ca_file'), undefined);
  const minVersion = reader.read((t) => t.oneOf('min_version', TLS_VERSIONS, 'TLSv1.2'), 'TLSv1.2');
  const rejectUnauthorized = reader.read((t) => t.bool('reject_unauthorized', true), true);

  let caFile: string | undefined;
  let caPem: string | undefined;
  if (caFileText !== undefined) {
    const where = config.pathOf('ca_file');
    if (caFileText.trim() === '') {
      reader.problem(ukError('UK_ERR_MANIFEST_VALUE', `${where}: expected a path to a PEM file of CA certificates, got ""`, { where }));
    } else {
      caFile = resolve(caFileText);
      try {
        const text = readFileSync(caFile, 'utf8');
        const certs = pemCertificates(text);
        if (certs.length === 0) {
          reader.problem(
            ukError('UK_ERR_MANIFEST_VALUE', `${where}: ${caFile} contains no PEM certificate`, {
              where,
              fix: 'give a file with one or more "-----BEGIN CERTIFICATE-----" blocks',
            }),
          );
        } else {
          caPem = certs.join('\n');
        }
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        reader.problem(
          ukError('UK_ERR_MANIFEST_VALUE', `${where}: cannot read ${caFile}: ${code}`, {
            where,
            fix: 'check the path (relative paths are taken from the directory uk runs in) and its permissions',
          }),
        );
      }
    }
  }
  reader.done();
  return { caFile, caPem, minVersion, rejectUnauthorized };
}
