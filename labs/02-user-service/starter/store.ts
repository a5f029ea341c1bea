/**
 * Lab 02, the user store: given to you, ready to use. Your server keeps its
 * users here; this lab is about the gRPC layer in front of it.
 *
 * It stands for a database, so every method is async: while one call waits
 * for the store, other calls run. A decision made in one store call and acted
 * on in the next ("is this email free?" then "insert") can therefore be
 * overtaken by another request in between. Each method below does its check
 * and its write in one step, with no await in between, so use them as they
 * are: create() rejects a taken email itself, update() changes only the
 * fields you pass.
 *
 * The store checks what it owns (unique emails, existing ids); checking the
 * input (an empty name, a malformed email) is your server's job. It returns
 * copies: changing a user it gave you does not change the store.
 */
import { randomUUID } from "node:crypto";
import type { User } from "../gen/user/v1/user";

/** The fields of a user that clients choose. */
export interface UserFields {
  name: string;
  email: string;
  roles: string[];
}

/** No user has this id. */
export class NotFoundError extends Error {
  constructor(readonly id: string) {
    super(`no user has id "${id}"`);
    this.name = "NotFoundError";
  }
}

/** Another user already has this email. */
export class EmailTakenError extends Error {
  constructor(readonly email: string) {
    super(`email "${email}" is taken by another user`);
    this.name = "EmailTakenError";
  }
}

export interface StoreChange {
  kind: "created" | "updated" | "deleted";
  /** The user after the change; for "deleted", as it was. */
  user: User;
}

export interface Page {
  users: User[];
  /** Pass as `after` to get the next page; undefined on the last page. */
  next?: number;
}

export interface Watch {
  /** Every user at the moment the watch started, in creation order. */
  existing: User[];
  /** Stops the notifications. */
  stop(): void;
}

export class UserStore {
  /** Users in creation order; `position` only grows, so it orders pages even across deletes. */
  private readonly users = new Map<string, { user: User; position: number }>();
  private readonly idsByEmail = new Map<string, string>();
  private readonly watchers = new Set<(change: StoreChange) => void>();
  private lastPosition = 0;

  async create(fields: UserFields): Promise<User> {
    await databaseRoundTrip();
    const key = emailKey(fields.email);
    if (this.idsByEmail.has(key)) throw new EmailTakenError(fields.email);
    const now = new Date();
    const user: User = { id: randomUUID(), name: fields.name, email: fields.email, roles: [...fields.roles], createTime: now, updateTime: now };
    this.users.set(user.id, { user, position: ++this.lastPosition });
    this.idsByEmail.set(key, user.id);
    return this.notify("created", user);
  }

  /** Rejects with NotFoundError when no user has `id`. */
  async get(id: string): Promise<User> {
    await databaseRoundTrip();
    return structuredClone(this.entry(id).user);
  }

  /** Sets the fields present in `changes` (undefined means "keep"), and the update time. */
  async update(id: string, changes: Partial<UserFields>): Promise<User> {
    await databaseRoundTrip();
    const { user } = this.entry(id);
    if (changes.email !== undefined) {
      const owner = this.idsByEmail.get(emailKey(changes.email));
      if (owner !== undefined && owner !== id) throw new EmailTakenError(changes.email);
      this.idsByEmail.delete(emailKey(user.email));
      this.idsByEmail.set(emailKey(changes.email), id);
      user.email = changes.email;
    }
    if (changes.name !== undefined) user.name = changes.name;
    if (changes.roles !== undefined) user.roles = [...changes.roles];
    user.updateTime = new Date();
    return this.notify("updated", user);
  }

  /** Deletes the user and returns it as it was. */
  async delete(id: string): Promise<User> {
    await databaseRoundTrip();
    const { user } = this.entry(id);
    this.users.delete(id);
    this.idsByEmail.delete(emailKey(user.email));
    return this.notify("deleted", user);
  }

  /**
   * Up to `limit` users with `role` (every user when role is ""), in creation
   * order, starting after position `after` (0 for the first page).
   */
  async list(query: { role: string; after: number; limit: number }): Promise<Page> {
    await databaseRoundTrip();
    const matching = [...this.users.values()].filter(({ user, position }) => position > query.after && (query.role === "" || user.roles.includes(query.role)));
    const page = matching.slice(0, Math.max(query.limit, 0));
    const last = page.at(-1);
    return { users: page.map(({ user }) => structuredClone(user)), next: last && matching.length > page.length ? last.position : undefined };
  }

  /**
   * The users now, and then every change, in one step: no change falls
   * between the two. `onChange` runs during the change, so it must not throw.
   */
  watch(onChange: (change: StoreChange) => void): Watch {
    this.watchers.add(onChange);
    return {
      existing: [...this.users.values()].map(({ user }) => structuredClone(user)),
      stop: () => this.watchers.delete(onChange),
    };
  }

  /** How many watches are running (each open WatchUsers call should hold one). */
  get watcherCount(): number {
    return this.watchers.size;
  }

  /** How many users there are. */
  get size(): number {
    return this.users.size;
  }

  private entry(id: string): { user: User; position: number } {
    const entry = this.users.get(id);
    if (!entry) throw new NotFoundError(id);
    return entry;
  }

  private notify(kind: StoreChange["kind"], user: User): User {
    for (const onChange of this.watchers) onChange({ kind, user: structuredClone(user) });
    return structuredClone(user);
  }
}

/** Emails are unique without regard to case. */
function emailKey(email: string): string {
  return email.trim().toLowerCase();
}

/** The wait of a call to a real database: other requests run meanwhile. */
function databaseRoundTrip(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
