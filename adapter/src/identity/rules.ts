import { ValidationError } from '../errors.ts';
import { POSTGRES_RESERVED_WORDS } from './reserved-words.ts';

const NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const SCHEMA = /^[a-z_][a-z0-9_]*$/;
const NAMESPACE = /^[A-Za-z0-9_:.-]+$/;
const GLOB = /[*?[\]\\]/;
const MAX_IDENTIFIER_BYTES = 63;
const MAX_NAMESPACE_LENGTH = 200;

/** Service and instance names: 1-63 letters, digits and `-`, alphanumeric at both ends. */
export function checkName(field: string, value: string): string {
  if (!NAME.test(value)) {
    throw new ValidationError(
      field,
      value,
      'must be 1-63 characters of letters, digits and "-", starting and ending with a letter or digit',
    );
  }
  return value;
}

/** A schema must be usable unquoted, be our own, and never a system schema. */
export function checkSchema(field: string, value: string): string {
  if (!SCHEMA.test(value)) {
    throw new ValidationError(
      field,
      value,
      'must be a lower-case unquoted PostgreSQL identifier: a letter or "_" followed by letters, digits or "_"',
    );
  }
  if (Buffer.byteLength(value) > MAX_IDENTIFIER_BYTES) {
    throw new ValidationError(field, value, `must be at most ${MAX_IDENTIFIER_BYTES} bytes long`);
  }
  if (value === 'public' || value === 'information_schema' || value.startsWith('pg_')) {
    throw new ValidationError(
      field,
      value,
      'must not be "public", "information_schema" or start with "pg_"',
    );
  }
  if (POSTGRES_RESERVED_WORDS.has(value)) {
    throw new ValidationError(
      field,
      value,
      'is a reserved word in PostgreSQL and cannot be used unquoted',
    );
  }
  return value;
}

/** A Redis namespace becomes an ACL key pattern, so glob characters would widen it. */
export function checkNamespace(field: string, value: string): string {
  if (GLOB.test(value)) {
    throw new ValidationError(
      field,
      value,
      'must not contain Redis glob characters (* ? [ ] \\): they would widen the ACL key pattern',
    );
  }
  if (!NAMESPACE.test(value) || value.length > MAX_NAMESPACE_LENGTH) {
    throw new ValidationError(
      field,
      value,
      `must be 1-${MAX_NAMESPACE_LENGTH} characters of letters, digits, "_", "-", ":" and "."`,
    );
  }
  if (value.startsWith(':') || value.endsWith(':') || value.includes('::')) {
    throw new ValidationError(field, value, 'must not start or end with ":" or contain "::"');
  }
  if (value === 'default') {
    throw new ValidationError(
      field,
      value,
      'must not be "default", the name of the Redis default user',
    );
  }
  return value;
}
