/**
 * Validators return verdicts instead of throwing, so one bad entry never fails a whole state.
 * `final: false` means "not yet": the entry waits (kept, not materialised) and is re-evaluated when
 * the authority state or the key ring changes.
 */
export type Verdict = { valid: true } | { valid: false; reason: string; final: boolean };

export const VALID: Verdict = { valid: true };
export const invalid = (reason: string): Verdict => ({ valid: false, reason, final: true });
export const notYet = (reason: string): Verdict => ({ valid: false, reason, final: false });
