import { ValidationError } from '../errors.ts';
import { checkName, checkNamespace, checkSchema } from './rules.ts';

/** The service name used when none is given. */
export const DEFAULT_SERVICE_NAME = 'trading-system-engine';

/** What an instance is called; the store names are derived when not given. */
export interface IdentityInput {
  serviceName?: string | undefined;
  instanceName?: string | undefined;
  postgresSchema?: string | undefined;
  redisNamespace?: string | undefined;
}

/** Who an instance is and where its data lives. */
export interface Identity {
  serviceName: string;
  instanceName: string;
  postgresSchema: string;
  redisNamespace: string;
}

/**
 * Resolves and validates an instance's identity with the derivation the
 * original services used, so schemas and keys they wrote stay reachable.
 * Throws a ValidationError naming the field, the value and the rule.
 */
export function deriveIdentity(input: IdentityInput): Identity {
  const serviceName = checkName('serviceName', input.serviceName || DEFAULT_SERVICE_NAME);
  const instanceName = checkName('instanceName', input.instanceName || serviceName);
  const derived = `derived from instanceName "${instanceName}"; set it explicitly to override`;

  const postgresSchema = input.postgresSchema
    ? checkSchema('postgresSchema', input.postgresSchema)
    : checkSchema(`postgresSchema (${derived})`, deriveSchema(serviceName, instanceName));
  const redisNamespace = input.redisNamespace
    ? checkNamespace('redisNamespace', input.redisNamespace)
    : checkNamespace(`redisNamespace (${derived})`, deriveNamespace(serviceName, instanceName));

  return { serviceName, instanceName, postgresSchema, redisNamespace };
}

/**
 * deriveIdentity, with errors naming the caller's own fields: an environment
 * variable (`POSTGRES_SCHEMA`) or a spec path (`spec.postgres.schema`).
 */
export function deriveIdentityAs(
  input: IdentityInput,
  fields: Record<keyof IdentityInput, string>,
): Identity {
  try {
    return deriveIdentity(input);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const field = (error.field.split(' ')[0] ?? error.field) as keyof IdentityInput;
    throw new ValidationError(
      error.field.replace(field, fields[field] ?? field),
      error.value,
      error.rule,
    );
  }
}

/** True when the instance is the service's singleton. */
export function isSingleton(identity: Pick<Identity, 'serviceName' | 'instanceName'>): boolean {
  return identity.serviceName === identity.instanceName;
}

function deriveSchema(serviceName: string, instanceName: string): string {
  if (serviceName === instanceName) return firstPart(serviceName);
  return instanceName.replaceAll('-', '_').toLowerCase();
}

function deriveNamespace(serviceName: string, instanceName: string): string {
  if (serviceName === instanceName) return firstPart(serviceName);
  const parts = pythonSplit(instanceName, '-', 2);
  if (parts.length === 3) {
    const [first, second, rest] = parts as [string, string, string];
    const dash = rest.indexOf('-');
    const suffix = dash === -1 ? rest : rest.slice(dash + 1);
    return `${first}_${second}:${suffix}`;
  }
  return instanceName.replaceAll('-', '_');
}

function firstPart(name: string): string {
  return pythonSplit(name, '-', 1)[0] ?? name;
}

/**
 * Python's `str.split(sep, maxsplit)`: at most `maxsplit` cuts, the last part
 * keeps the remainder (JavaScript's `split(sep, limit)` drops it instead).
 */
export function pythonSplit(value: string, separator: string, maxSplit: number): string[] {
  const parts: string[] = [];
  let rest = value;
  while (parts.length < maxSplit) {
    const at = rest.indexOf(separator);
    if (at === -1) break;
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + separator.length);
  }
  parts.push(rest);
  return parts;
}
