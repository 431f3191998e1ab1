/**
 * The lengths the rule tables allow, each defined once, in UTF-16 code units (JavaScript's
 * `length`). Every peer's rules refuse a longer value, whoever wrote it; the client refuses it
 * first, at the API, with a typed error, before anything is sealed.
 */

/** A message's text (about a printed page), the same in every channel. */
export const MAX_MESSAGE_LENGTH = 4000;

/** A space's, a channel's or a role's name. */
export const MAX_NAME = 100;

/** A member's nickname in a space, in its stored (trimmed, NFC) form. */
export const MAX_NICKNAME = 32;

/**
 * A role's colour: exactly `#rrggbb` in lowercase hex (`#5865f2`), 7 characters. Nothing else — no
 * names, `rgb()`, `var()` or `;` — so a colour set by one member can never carry CSS into another
 * member's page (rule `roles/:role/color`, `isRoleColor`).
 */
export const MAX_ROLE_COLOR = 7;

/** A channel's topic: a short paragraph shown in its header (Discord's limit too). */
export const MAX_TOPIC = 1024;

/**
 * Pinned messages in one channel, as seen at each pin's causal point (rule `pin:<bucket>:<message>`
 * in channel-rules.ts). Pins made concurrently, each with fewer in its past, may together pass it;
 * a channel then shows its MAX_PINS most recent pins.
 */
export const MAX_PINS = 50;

/**
 * Successors an owner names in advance (docs/protocol.md, "Succession"): enough for any real
 * community's trusted circle, few enough that counting approvals stays trivial on every derivation.
 */
export const MAX_SUCCESSORS = 16;

/**
 * A reaction: one emoji, or a short string standing for one (`:tada:`). 32 code units hold the
 * longest emoji sequences (a family of four with skin tones is 27) with room to spare, and keep
 * a reaction, which is a key in its message's map, small.
 */
export const MAX_REACTION = 32;

/** A message id named by a reply (`<16 hex session>.<counter>`, ~25 characters; room to spare). */
export const MAX_MESSAGE_ID = 64;

/** Distinct mentions (members, roles, @everyone, @here) one message may carry. */
export const MAX_MENTIONS = 50;

/** One mention's key: `user:` or `role:` and an id (user ids are ~50 characters, role ids fewer). */
export const MAX_MENTION_KEY = 100;
