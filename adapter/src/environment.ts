import type { z } from 'zod';
import { ValidationError } from './errors.ts';
import { isSecretVariable, redactUrl } from './redaction.ts';

/**
 * Parses a process environment with a zod object schema keyed by variable
 * name. Empty values count as unset. The first problem throws a
 * ValidationError naming the variable, its value (credentials withheld) and the rule.
 */
export function parseEnvironment<S extends z.ZodObject>(
  schema: S,
  env: NodeJS.ProcessEnv,
): z.infer<S> {
  const given = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = schema.safeParse(given);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const variable = String(issue?.path[0] ?? 'environment');
  const value = given[variable];
  // A URL's password must not reach the error that says the URL is wrong; a
  // token or password that is not a URL is not shown at all.
  const shown =
    isSecretVariable(variable) && value !== undefined
      ? /URL/i.test(variable)
        ? redactUrl(value)
        : '***'
      : value;
  throw new ValidationError(variable, shown, issue?.message ?? 'is invalid');
}
