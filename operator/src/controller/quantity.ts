/**
 * Kubernetes resource quantities (`500m`, `0.5`, `1Gi`, `1e3`), compared by
 * value. The API server stores a quantity in its canonical form (`0.5`
 * becomes `500m`, `1024Mi` becomes `1Gi`), so comparing the strings we send
 * with the ones it returns would see drift that is not there.
 */

const DECIMAL = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
/** Each suffix as base ** exponent. */
const SUFFIXES = new Map<string, { base: bigint; exponent: bigint }>([
  ...Object.entries(DECIMAL).map(
    ([suffix, e]) => [suffix, { base: 10n, exponent: BigInt(e) }] as const,
  ),
  ...Object.entries(BINARY).map(
    ([suffix, e]) => [suffix, { base: 2n, exponent: BigInt(e) }] as const,
  ),
]);

// <signedNumber><suffix>, suffix a binary SI, a decimal exponent (e3, E-2) or a decimal SI.
const QUANTITY = /^([+-]?)(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE])?$/;

/** An exact value: numerator / denominator. */
interface Fraction {
  numerator: bigint;
  denominator: bigint;
}

/** The exact value of a quantity, or undefined when the string is not one. */
export function parseQuantity(text: string): Fraction | undefined {
  const match = QUANTITY.exec(text.trim());
  if (!match) return undefined;
  const [, sign = '', number = '', suffix = ''] = match;
  const [whole = '', fraction = ''] = number.split('.');
  let numerator = BigInt(`${whole || '0'}${fraction}`) * (sign === '-' ? -1n : 1n);
  let denominator = 10n ** BigInt(fraction.length);
  const { base, exponent } = /^[eE]./.test(suffix)
    ? { base: 10n, exponent: BigInt(suffix.slice(1)) }
    : (SUFFIXES.get(suffix) as { base: bigint; exponent: bigint });
  // Exponents past any real quantity are refused rather than computed.
  if (exponent > 100n || exponent < -100n) return undefined;
  if (exponent >= 0n) numerator *= base ** exponent;
  else denominator *= base ** -exponent;
  return { numerator, denominator };
}

/** True when both are quantities of the same value (`0.5` and `500m`, `1Gi` and `1024Mi`). */
export function sameQuantity(a: string | number, b: string | number): boolean {
  const x = parseQuantity(String(a));
  const y = parseQuantity(String(b));
  if (!x || !y) return false;
  return x.numerator * y.denominator === y.numerator * x.denominator;
}
