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

/** A role's colour: a CSS colour such as `#5865f2` or `rgb(88 101 242)`. */
export const MAX_ROLE_COLOR = 16;

/**
 * Successors an owner names in advance (docs/protocol.md, "Succession"): enough for any real
 * community's trusted circle, few enough that counting approvals stays trivial on every derivation.
 */
export const MAX_SUCCESSORS = 16;
