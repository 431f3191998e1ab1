/**
 * Charter's public API: the only import path apps, the web client and the sync server use.
 */
export {
	Charter,
	type CharterOptions,
	type IdentityInfo,
	type DeletedSpace
} from './client/Charter.js';
export {
	Space,
	type Member,
	type Role,
	type Ban,
	type Invite,
	type SettingChange,
	type FormerMember,
	type SuccessionInfo
} from './client/Space.js';
export { parseInviteLink, type InviteLink } from './authority/invites.js';
export {
	Channel,
	Thread,
	type Mentions,
	type Message,
	type Reaction,
	type SendOptions,
	type Pin,
	MAX_MESSAGE_LENGTH,
	MAX_PINS,
	MAX_REACTION,
	MAX_TOPIC
} from './client/Channel.js';
export { type ThreadSummary } from './client/threads.js';
export { isRoleColor } from './authority/space-rules.js';
export type { ChannelChanges, RoleChanges } from './authority/plans.js';
export {
	ReadState,
	NotificationSettings,
	mentionsMe,
	NOTIFY_RECENT_MS,
	threadMarkerKey,
	type ThreadUnread,
	type UnreadInfo,
	type NotifyEvent,
	type NotificationLevel,
	type ReadMarker
} from './client/read-state.js';
export {
	TYPING_TTL_MS,
	TYPING_THROTTLE_MS,
	ONLINE_TTL_MS,
	HEARTBEAT_MS,
	FRESHNESS_MS,
	type SignalStats,
	type SignalDrop
} from './client/presence.js';
export { READ_MARKER_DELAY_MS } from './sync/account.js';
/** The text prefixes of invite links, device-link codes and friend-recovery request codes. */
export { LINK_PREFIX } from './crypto/domains.js';
export type { Delivery } from './sync/durability.js';
export { SharedDocument, type SharedDocumentType } from './client/SharedDocument.js';
export { CharterError, isCharterError, type CharterErrorCode } from './errors.js';
export {
	MAX_SEARCH_QUERY,
	MAX_SEARCH_RESULTS,
	type SearchOptions,
	type SearchProblem,
	type SearchResult,
	type SearchResults
} from './client/search.js';
export {
	createRecoveryPhrase,
	isValidRecoveryPhrase,
	RECOVERY_PHRASE_WORDS
} from './identity/phrase.js';
export {
	recoveryRequestCheck,
	MIN_FRIEND_THRESHOLD,
	MAX_RECOVERY_FRIENDS
} from './identity/friend-recovery.js';
export type { UserId, DeviceId, SpaceId, ChannelId } from './identity/ids.js';
export {
	verifyProfile,
	MAX_AVATAR_BYTES,
	MAX_DISPLAY_NAME,
	type Profile
} from './identity/profile.js';
export {
	MemorySecretStore,
	IndexedDBSecretStore,
	type SecretStore
} from './identity/secret-store.js';
export type { Durability } from './authority/schema.js';
export { EVERYONE } from './authority/schema.js';
export { Permission, PERMISSION_NAMES, type PermissionName } from './authority/permissions.js';
export {
	RuleSet,
	requires,
	all,
	any,
	allow,
	deny,
	valueAt,
	type Rule,
	type RuleCheck,
	type RuleContext
} from './authority/rules.js';
export { VALID, invalid, type Verdict } from './authority/verdict.js';
export { PathIndex, type ResolvedOp } from './authority/paths.js';
export {
	parseEntry,
	verifyEntrySignature,
	type ParsedEntry,
	type EntryHeader
} from './encryption/entry.js';
export { envelopeDocumentId, bytesWrittenBy } from './sync/envelope.js';
export { checkPublishedChanges, type PublicationCheck } from './sync/publication.js';
export { isSignalData } from './sync/verifying-adapter.js';
export { admitEnvelope, type AdmissionPolicy, type AdmissionDecision } from './sync/admission.js';
export type { PeerSyncStatus, PeerDocumentLag } from './sync/peer-status.js';
export type { SyncServerStatus, SyncServerState, SyncServerSource } from './sync/servers.js';
export { isSyncServerUrl } from './util/url.js';
export { createCryptoProvider, cryptoProvider, type CryptoProvider } from './crypto/primitives.js';
