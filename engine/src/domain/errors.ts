/** A request the trading rules refuse: bad input, a forbidden transition, a breached limit. */
export class DomainError extends Error {
  readonly code: 'INVALID_TRANSITION' | 'INVALID_FILL' | 'RISK_LIMIT';

  constructor(code: DomainError['code'], message: string) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
  }
}
