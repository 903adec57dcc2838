/**
 * A connection URL as it may be shown in an error, a log line or a status:
 * everything between the scheme and the last `@` (user and password) and
 * any `password=` parameter replaced by `***`. Works on strings that do not
 * parse as URLs, which is where an echoed password is most likely.
 */
export function redactUrl(value: string): string {
  const withoutParameters = value.replace(/([?&]password=)[^&#]*/gi, '$1***');
  const at = withoutParameters.lastIndexOf('@');
  if (at === -1) return withoutParameters;
  const scheme = withoutParameters.indexOf('://');
  const start = scheme === -1 || scheme > at ? 0 : scheme + 3;
  return `${withoutParameters.slice(0, start)}***${withoutParameters.slice(at)}`;
}

/** True for environment variables whose values may hold a credential. */
export function isSecretVariable(name: string): boolean {
  return /URL|PASSWORD|SECRET|TOKEN/i.test(name);
}
