import type { z } from 'zod';
import { ValidationError } from './errors.ts';

/**
 * Parses a process environment with a zod object schema keyed by variable
 * name. Empty values count as unset. The first problem throws a
 * ValidationError naming the variable, its value and the rule.
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
  throw new ValidationError(variable, given[variable], issue?.message ?? 'is invalid');
}
