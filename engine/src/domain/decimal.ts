import { Decimal } from 'decimal.js';

/**
 * Decimal arithmetic for money and quantities: 40 significant digits while
 * computing, 8 decimal places when stored (the NUMERIC(20,8) of the tables),
 * never binary floating point.
 */
export const Dec = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_EVEN });
export type Dec = InstanceType<typeof Dec>;

/** The stored spelling of a decimal: 8 places at most, no trailing zeros. */
export function money(value: Decimal.Value): string {
  const text = new Dec(value).toDecimalPlaces(8).toFixed();
  return text === '-0' ? '0' : text;
}
