/**
 * Permissions after Discord's model: a bit set per role, OR-ed over a member's roles, then adjusted
 * per channel by overwrites (@everyone, then roles, then the member; deny before allow at each
 * step). ADMINISTRATOR grants everything; the owner holds everything. A role hierarchy limits whom
 * and what one may manage: only roles and members strictly below one's highest role.
 */
export const Permission = {
	ADMINISTRATOR: 1 << 0,
	MANAGE_SPACE: 1 << 1,
	MANAGE_ROLES: 1 << 2,
	MANAGE_CHANNELS: 1 << 3,
	KICK_MEMBERS: 1 << 4,
	BAN_MEMBERS: 1 << 5,
	CREATE_INVITE: 1 << 6,
	VIEW_CHANNEL: 1 << 7,
	SEND_MESSAGES: 1 << 8,
	MANAGE_MESSAGES: 1 << 9,
	MANAGE_NICKNAMES: 1 << 10,
	CHANGE_NICKNAME: 1 << 11,
	READ_MESSAGE_HISTORY: 1 << 12,
	MENTION_EVERYONE: 1 << 13,
	ADD_REACTIONS: 1 << 14
} as const;

export type PermissionName = keyof typeof Permission;
export const PERMISSION_NAMES = Object.keys(Permission) as PermissionName[];
export const ALL_PERMISSIONS = PERMISSION_NAMES.reduce((all, name) => all | Permission[name], 0);

/** What @everyone may do in a new space. */
export const DEFAULT_EVERYONE_PERMISSIONS =
	Permission.VIEW_CHANNEL |
	Permission.SEND_MESSAGES |
	Permission.READ_MESSAGE_HISTORY |
	Permission.CHANGE_NICKNAME |
	Permission.CREATE_INVITE |
	Permission.ADD_REACTIONS;

/**
 * What @everyone may do in the space document's deterministic root (schema.ts), fixed forever: the
 * root's change hash is every space's first dependency, so it never changes. A new space then sets
 * @everyone to DEFAULT_EVERYONE_PERMISSIONS in its first change (Space.create); a space created
 * before ADD_REACTIONS existed keeps these until a member with MANAGE_ROLES grants more.
 */
export const ROOT_EVERYONE_PERMISSIONS =
	Permission.VIEW_CHANNEL |
	Permission.SEND_MESSAGES |
	Permission.READ_MESSAGE_HISTORY |
	Permission.CHANGE_NICKNAME |
	Permission.CREATE_INVITE;

/** Permissions that only make sense per channel and so may appear in overwrites. */
export const CHANNEL_PERMISSIONS =
	Permission.VIEW_CHANNEL |
	Permission.SEND_MESSAGES |
	Permission.MANAGE_MESSAGES |
	Permission.READ_MESSAGE_HISTORY |
	Permission.MENTION_EVERYONE |
	Permission.ADD_REACTIONS |
	Permission.CREATE_INVITE |
	Permission.MANAGE_CHANNELS |
	Permission.MANAGE_ROLES;

export function has(permissions: number, needed: number): boolean {
	return (permissions & needed) === needed;
}

export function permissionNames(permissions: number): PermissionName[] {
	return PERMISSION_NAMES.filter((name) => has(permissions, Permission[name]));
}

export function permissionsFromNames(names: readonly PermissionName[]): number {
	let bits = 0;
	for (const name of names) {
		const bit = Permission[name];
		if (bit === undefined) throw new RangeError(`unknown permission ${String(name)}`);
		bits |= bit;
	}
	return bits;
}

export function isPermissionBits(value: unknown): value is number {
	return (
		typeof value === 'number' &&
		Number.isInteger(value) &&
		value >= 0 &&
		(value & ~ALL_PERMISSIONS) === 0
	);
}
