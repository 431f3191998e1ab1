/**
 * WebSocket close codes the sync server uses when it ends a connection on purpose. 4000–4999 are
 * reserved for applications by RFC 6455; the last three digits echo the nearest HTTP status so an
 * operator reading a client log can guess the meaning. Documented in docs/self-hosting.md.
 */
export const CLOSE = {
	/** The connection sent more messages or bytes per second than its token bucket allows. */
	rateLimited: 4008,
	/** One message was larger than --max-message-bytes. */
	messageTooBig: 4009,
	/** Storing the message would exceed the per-document or the total storage quota. */
	quotaExceeded: 4013,
	/**
	 * The connection brought more new documents this hour than --documents-per-hour, or its address
	 * more than --documents-per-address-per-hour.
	 */
	tooManyDocuments: 4029,
	/**
	 * The connection's address sent more refused changes (unsealed, or not admitted) than
	 * --max-refused-changes within --refused-window-seconds, and this connection sent another.
	 */
	refusedChanges: 4422,
	/** A connection without the peer token claimed the peer id of a connected peer server. */
	impersonation: 4403,
	/** The message was not automerge-repo's CBOR wire format or carried an undecodable sync message. */
	malformed: 4400,
	/** The server is shutting down (standard "going away"); clients reconnect elsewhere or later. */
	shuttingDown: 1001
} as const;

/**
 * ws's own hard ceiling: a frame above its maxPayload is cut off by ws itself with the standard
 * code 1009 before the message is ever buffered whole (the guard sees and counts it).
 */
export const WS_MESSAGE_TOO_BIG = 1009;
