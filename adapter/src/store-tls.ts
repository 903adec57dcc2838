import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { ValidationError } from './errors.ts';

/**
 * How a client reaches a store, in libpq's `sslmode` terms: `disable` in the
 * clear; `require` encrypted, the server unverified (verified against `ca`
 * when one is given, as libpq does); `verify-ca` signed by `ca`;
 * `verify-full` signed by `ca` (or the system's CAs) for the host dialled.
 */
export type TlsMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

export interface StoreTls {
  mode: TlsMode;
  /** PEM bundle of the CAs that sign the server's certificate. */
  ca?: string;
}

/** The URL parameters that say something about TLS; node-postgres would act on each. */
const POSTGRES_TLS_PARAMETERS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'uselibpqcompat'];

/**
 * The only parameters a PostgreSQL URL may carry. node-postgres lets any
 * parameter of the connection string override the options it is given
 * (`ssl=0`, `host=/tmp`): one the URL slipped in would switch TLS off or
 * send the password elsewhere while the URL still says verify-full.
 */
const POSTGRES_URL_PARAMETERS = new Set([
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'application_name',
  'connect_timeout',
]);

const POSTGRES_MODES: Record<string, TlsMode> = {
  disable: 'disable',
  require: 'require',
  'no-verify': 'require', // node-postgres' name for it
  'verify-ca': 'verify-ca',
  'verify-full': 'verify-full',
};

/**
 * What a PostgreSQL URL says about TLS. `sslmode` absent means `disable`, as
 * in node-postgres; `prefer` and `allow` are refused, since a server (or
 * someone between) that declines TLS would get the password in the clear.
 * The CA is `ca` when given, else the file `sslrootcert` names.
 */
export function postgresTls(url: string, field: string, ca?: string): StoreTls {
  if (ca !== undefined) checkPem(ca, field);
  const parameters = new URL(url).searchParams;
  for (const name of parameters.keys())
    if (!POSTGRES_URL_PARAMETERS.has(name))
      throw new ValidationError(
        `${field} parameter`,
        name,
        `is not supported (only ${[...POSTGRES_URL_PARAMETERS].join(', ')}): it could override TLS or the host the URL names`,
      );
  const sslmode = parameters.get('sslmode') ?? 'disable';
  const mode = POSTGRES_MODES[sslmode];
  if (!mode)
    throw new ValidationError(
      `${field} sslmode`,
      sslmode,
      'must be disable, require, verify-ca or verify-full (prefer and allow may fall back to plaintext)',
    );
  for (const parameter of ['sslcert', 'sslkey'])
    if (parameters.has(parameter))
      throw new ValidationError(
        `${field} ${parameter}`,
        parameters.get(parameter),
        'client certificates are not supported: log in with a password over TLS',
      );
  const rootCert = parameters.get('sslrootcert');
  const bundle = ca ?? (rootCert ? readCaFile(rootCert, `${field} sslrootcert`) : undefined);
  if (mode === 'disable' && bundle)
    throw new ValidationError(
      `${field} sslmode`,
      sslmode,
      'a CA is given, so TLS must be on: set sslmode=verify-full (or verify-ca, require)',
    );
  if (mode === 'verify-ca' && !bundle)
    throw new ValidationError(
      `${field} sslmode`,
      sslmode,
      "verify-ca needs the CA that signs the server: set sslrootcert or the admin Secret's caKey",
    );
  return bundle ? { mode, ca: bundle } : { mode };
}

/**
 * What a Redis URL says about TLS: `rediss://` is TLS with the server
 * verified for the host dialled (against `ca` when given, else the system's
 * CAs); `redis://` is plaintext, and refuses a CA.
 */
export function redisTls(url: string, field: string, ca?: string): StoreTls {
  if (ca !== undefined) checkPem(ca, field);
  const parsed = new URL(url);
  // ioredis lets a URL parameter override its options (`?tls=` turns TLS off, `?path=` dials a socket).
  for (const name of parsed.searchParams.keys())
    throw new ValidationError(
      `${field} parameter`,
      name,
      'a Redis URL takes no parameters: TLS comes from rediss:// and the CA beside the URL',
    );
  const secure = parsed.protocol === 'rediss:';
  if (!secure && ca)
    throw new ValidationError(
      field,
      'redis://',
      'a CA is given, so TLS must be on: use a rediss:// URL',
    );
  if (!secure) return { mode: 'disable' };
  return ca ? { mode: 'verify-full', ca } : { mode: 'verify-full' };
}

/** node:tls options for a mode; `false` for plaintext. */
export function tlsOptions(tls: StoreTls): ConnectionOptions | false {
  switch (tls.mode) {
    case 'disable':
      return false;
    case 'require':
      // libpq: with a root certificate, require verifies the chain as verify-ca does.
      return tls.ca
        ? { ca: tls.ca, checkServerIdentity: () => undefined }
        : { rejectUnauthorized: false };
    case 'verify-ca':
      return { ca: tls.ca, checkServerIdentity: () => undefined };
    case 'verify-full':
      return tls.ca ? { ca: tls.ca } : {};
  }
}

/**
 * node-postgres connection settings for a libpq URL: the TLS parameters are
 * taken out of the connection string (node-postgres gives some of them other
 * meanings) and applied as libpq would.
 */
export function postgresConnection(
  url: string,
  tls: StoreTls = postgresTls(url, 'POSTGRES_URL'),
): { connectionString: string; ssl: ConnectionOptions | false } {
  const parsed = new URL(url);
  for (const parameter of POSTGRES_TLS_PARAMETERS) parsed.searchParams.delete(parameter);
  return { connectionString: parsed.toString(), ssl: tlsOptions(tls) };
}

/** The URL parameters that carry `tls` to a libpq client whose CA file is at `caPath`. */
export function postgresTlsParameters(tls: StoreTls, caPath: string): Record<string, string> {
  if (tls.mode === 'disable') return {};
  return tls.ca ? { sslmode: tls.mode, sslrootcert: caPath } : { sslmode: tls.mode };
}

/** ioredis options for `tls`: none for plaintext, since a `tls` option turns TLS on. */
export function redisTlsOptions(tls: StoreTls): { tls?: ConnectionOptions } {
  const options = tlsOptions(tls);
  return options ? { tls: options } : {};
}

function checkPem(bundle: string, field: string): void {
  if (!bundle.includes('-----BEGIN CERTIFICATE-----'))
    throw new ValidationError(
      `${field} CA`,
      `${bundle.length} bytes`,
      'must be a PEM bundle of CA certificates (-----BEGIN CERTIFICATE-----)',
    );
}

/** A CA bundle file's contents; a ValidationError naming `field` when it cannot be read. */
export function readCaFile(path: string, field: string): string {
  let bundle: string;
  try {
    bundle = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ValidationError(
      field,
      path,
      `must name a readable PEM file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
  }
  checkPem(bundle, field);
  return bundle;
}
