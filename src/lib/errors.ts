/**
 * Every failure an app can see is a CharterError with a stable `code`, so callers branch on data,
 * not on message text. The sync layer never throws these at peers: it counts them as drops.
 */
export type CharterErrorCode =
	| 'invalid-argument'
	| 'invalid-recovery-phrase'
	| 'no-identity'
	| 'identity-exists'
	| 'malformed'
	| 'too-large'
	| 'unsupported-version'
	| 'bad-signature'
	| 'decryption-failed'
	| 'wrong-space'
	| 'wrong-document'
	| 'wrong-recipient'
	| 'unknown-epoch'
	| 'unknown-space'
	| 'unknown-channel'
	| 'not-authorized'
	| 'invalid-invite'
	| 'invite-unknown'
	| 'invite-revoked'
	| 'invite-expired'
	| 'invite-used-up'
	| 'unavailable'
	| 'too-few-approvals'
	/** A restore from a recovery phrase its user has since replaced (identity rotation). */
	| 'identity-rotated'
	| 'closed';

export class CharterError extends Error {
	readonly code: CharterErrorCode;
	constructor(code: CharterErrorCode, message: string, options?: { cause?: unknown }) {
		super(message, options);
		this.name = 'CharterError';
		this.code = code;
	}
}

export function isCharterError(error: unknown, code?: CharterErrorCode): error is CharterError {
	return error instanceof CharterError && (code === undefined || error.code === code);
}
