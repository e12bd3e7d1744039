// Types for the Tandem JavaScript client (clients/js). Wire shapes follow
// docs/protocol.md; positions in ops and cursors count Unicode code points.

export type Ref = string | number

// ---- wire shapes -------------------------------------------------------------
export type Status = 'online' | 'busy' | 'away'
export interface Device { connection_id: string; device_type: string; browser: string | null }
export interface Location { page: string | null; entity_type: string | null; entity_id: string | null }
/** A device as presence shows it (no connection id: a reload changes nothing). */
export interface PresenceDevice { device_type: string; browser: string | null; location?: Location }
export interface PresenceView { user_id: string; name: string | null; status: Status; color: string; last_activity_at: string; location: Location | null; devices: PresenceDevice[] }
export interface MemberView { user_id: string; name: string | null; color: string; devices: Device[] }
export interface CursorView { user_id: string; connection_id: string; name: string | null; color: string; position: unknown; selection: unknown; field: string | null }
export interface TypingEntry { user_id: string; name: string | null; field: string | null }
export interface EditorEntry { user_id: string; name: string | null; field: string }
export interface LockView { field: string | null; user_id: string; name: string | null; mode: 'soft' | 'hard'; reason: string | null; acquired_at: string; expires_at: string }
export interface Notification { id: number; type: string; title: string; message: string | null; priority: 'low' | 'normal' | 'high' | 'urgent'; source: { type: string | null; id: string | null } | null; action: { url: string; label: string | null } | null; is_read: boolean; read_at: string | null; created_at: string; expires_at: string | null }
export interface ActivityEntry { id: number; user_id: string; user_name: string | null; action: string; entity_type: string; entity_id: string; entity_name: string | null; details: unknown; visibility: 'private' | 'team' | 'public'; created_at: string }
export type OpComponent = number | string
export type OpJSON = OpComponent[]

/** Every message a client may send (the `type` and its fields; `ref` is added by request()). */
export type ClientMessage =
  | { type: 'heartbeat' }
  | { type: 'auth:refresh'; token: string }
  | { type: 'presence:list' }
  | { type: 'presence:status'; status: Status }
  | { type: 'presence:location'; page?: string; entity_type?: string; entity_id?: string }
  | { type: 'presence:viewers'; entity_type: string; entity_id: string }
  | { type: 'presence:subscribe' | 'presence:unsubscribe'; user_ids: string[] }
  | { type: 'room:join' | 'room:leave' | 'typing:stop' | 'doc:sync'; entity_type: string; entity_id: string }
  | { type: 'room:members'; entity_type: string; entity_id: string; after?: string; limit?: number }
  | { type: 'cursor:move'; entity_type: string; entity_id: string; position: unknown; selection?: unknown; field?: string }
  | { type: 'typing:start'; entity_type: string; entity_id: string; field?: string }
  | { type: 'editing:start' | 'editing:stop' | 'doc:undo' | 'doc:redo'; entity_type: string; entity_id: string; field: string }
  | { type: 'room:broadcast'; entity_type: string; entity_id: string; event: string; payload?: unknown }
  | { type: 'doc:edit'; entity_type: string; entity_id: string; field: string; revision: number; op: OpJSON; client_id: string; seq: number }
  | { type: 'doc:set'; entity_type: string; entity_id: string; field: string; value: unknown; version: number }
  | { type: 'doc:lock'; entity_type: string; entity_id: string; field?: string; mode?: 'soft' | 'hard'; ttl_secs?: number; reason?: string }
  | { type: 'doc:unlock'; entity_type: string; entity_id: string; field?: string }
  | { type: 'notification:read'; id?: number; all?: boolean }
  | { type: 'notification:sync'; after_id: number }

interface Addressed { entity_type: string; entity_id: string }
/** Every message the server sends. */
export type ServerMessage =
  | { type: 'welcome'; connection_id: string; user_id: string; tenant_id: string; server_time: string; token_expires_at: number; ping_interval_secs: number; max_message_bytes: number }
  | { type: 'ack'; ref: Ref; data?: any }
  | { type: 'error'; ref: Ref | null; code: string; message: string; retry_after_ms?: number }
  | { type: 'heartbeat_ack'; ref?: Ref; server_time: string }
  | { type: 'presence:list'; ref?: Ref; mode: 'all' | 'interest'; users: PresenceView[] }
  | { type: 'presence:viewers'; ref?: Ref; entity_type: string; entity_id: string; users: PresenceView[] }
  | { type: 'presence:diff'; joined?: PresenceView[]; updated?: PresenceView[]; left?: string[]; unwatched?: string[] }
  | ({ type: 'room:users'; ref?: Ref; users: MemberView[]; total_users: number; next_after?: string; editors: EditorEntry[]; typing: TypingEntry[] } & Addressed)
  | ({ type: 'room:members'; ref?: Ref; users: MemberView[]; total_users: number; next_after?: string } & Addressed)
  | ({ type: 'room:user_joined'; user: MemberView; total_users: number } & Addressed)
  | ({ type: 'room:users_joined'; users: MemberView[]; total_users: number } & Addressed)
  | ({ type: 'room:user_left'; user_id: string; connection_id: string; user_left: boolean; total_users: number } & Addressed)
  | ({ type: 'room:users_left'; left: { user_id: string; connection_id: string; user_left: boolean }[]; total_users: number } & Addressed)
  | ({ type: 'room:count'; total_users: number } & Addressed)
  | ({ type: 'cursor:sync'; cursors: CursorView[] } & Addressed)
  | ({ type: 'cursor:update'; cursor: CursorView } & Addressed)
  | ({ type: 'cursor:remove'; user_id: string; connection_id: string } & Addressed)
  | ({ type: 'typing:users'; users: TypingEntry[] } & Addressed)
  | ({ type: 'editing:users'; editors: EditorEntry[] } & Addressed)
  | ({ type: 'room:broadcast'; from_user_id: string; event: string; payload: unknown } & Addressed)
  | ({ type: 'doc:state'; ref?: Ref; version: number; fields: Record<string, { text: string; revision: number }>; values: Record<string, { value: unknown; version: number; updated_by: string | null }>; locks: LockView[] } & Addressed)
  | ({ type: 'doc:op'; field: string; revision: number; version: number; op: OpJSON; user_id: string; client_id: string; seq: number; kind: 'edit' | 'undo' | 'redo' } & Addressed)
  | ({ type: 'doc:field'; field: string; value: unknown; field_version: number; version: number; user_id: string } & Addressed)
  | ({ type: 'doc:conflict'; ref?: Ref; field: string; your_value: unknown; current_value: unknown; current_version: number; changed_by: string | null } & Addressed)
  | ({ type: 'doc:lock_status'; locks: LockView[] } & Addressed)
  | { type: 'notification'; ref?: Ref; notification: Notification }
  | { type: 'notification:count'; ref?: Ref; unread: number }
  | { type: 'activity'; activity: ActivityEntry }
  | { type: 'system:message'; level: 'info' | 'warning' | 'critical'; message: string; scope: 'tenant' | 'all'; sent_at: string }

// ---- client ------------------------------------------------------------------
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'
export interface StateEvent { state: ConnectionState; code?: number; reason?: string; attempt?: number; delayMs?: number; connectionId?: string }

export interface TandemClientOptions {
  /** ws:// or wss:// URL of /ws. */
  url: string
  /** A token, or a function returning one (called on every connect and before expiry for auth:refresh). */
  token: string | (() => string | Promise<string>)
  /** WebSocket constructor (Node: the `ws` package); defaults to globalThis.WebSocket. */
  WebSocket?: any
  /** http(s) base for REST and SSE; derived from `url` by default. */
  httpUrl?: string
  device?: string
  browser?: string
  /** `'none'`: no tenant roster; presence only for subscribed users and room members. */
  presence?: 'all' | 'none'
  /** Default 10000. */
  requestTimeoutMs?: number
  /** While offline, queue requests (default, bounded by maxQueue) or reject them with `offline`. */
  offline?: 'queue' | 'reject'
  maxQueue?: number
  /** Backoff with full jitter: random(0, min(maxMs, baseMs * 2^attempt)). Defaults 500 / 15000. */
  reconnect?: { baseMs?: number; maxMs?: number }
  /** Heartbeat after this much silence (default 25000; 0 turns it off). Heartbeats count as activity. */
  heartbeatMs?: number
  /** Without any message this long after a heartbeat, the link is dead and is reopened (default 10000). */
  deadAfterMs?: number
  /** Refresh the token at this fraction of its remaining lifetime (default 0.8). */
  refreshAt?: number
  /** SSE fallback for notifications and activity when the WebSocket keeps failing (default true). */
  sse?: boolean
  sseAfterFailures?: number
  fetch?: typeof fetch
}

export class TandemError extends Error {
  /** The server's error code, or `timeout`, `connection_lost`, `offline`, `queue_full`, `closed`, `token`. */
  code: string
  reply: ServerMessage | null
}

type Off = () => void
declare class Emitter<E extends Record<string, any[]>> {
  on<K extends keyof E & string>(event: K, fn: (...args: E[K]) => void): Off
  once<K extends keyof E & string>(event: K, fn: (...args: E[K]) => void): Off
  off<K extends keyof E & string>(event: K, fn: (...args: E[K]) => void): void
  emit<K extends keyof E & string>(event: K, ...args: E[K]): void
}

export interface ClientEvents {
  state: [StateEvent]
  welcome: [Extract<ServerMessage, { type: 'welcome' }>]
  message: [ServerMessage]
  disconnect: [{ code: number; reason: string }]
  'activity:entry': [ActivityEntry]
  'token:refreshed': [{ token_expires_at: number }]
  sse: [{ state: 'open' | 'stopped' }]
  error: [Error]
  [type: string]: any[]
}

/**
 * The connection. Does not reconnect after close codes 4003 (disconnected by
 * an admin) and 1008 (refused by policy), nor after 4001 (token expired)
 * unless `token` is a function. Operator messages arrive as the
 * `system:message` event.
 */
export class TandemClient extends Emitter<ClientEvents> {
  constructor(options: TandemClientOptions)
  readonly state: ConnectionState
  readonly welcome: Extract<ServerMessage, { type: 'welcome' }> | null
  readonly userId: string | null
  readonly presence: PresenceStore
  readonly notifications: Notifications
  readonly rooms: Map<string, Room>
  connect(): Promise<Extract<ServerMessage, { type: 'welcome' }>>
  close(): void
  request<T = ServerMessage>(type: ClientMessage['type'], fields?: Record<string, unknown>, options?: { timeoutMs?: number }): Promise<T>
  send(type: ClientMessage['type'], fields?: Record<string, unknown>): boolean
  join(entityType: string, entityId: string): Promise<Room>
}

export class PresenceStore extends Emitter<{ change: [PresenceView[]]; joined: [PresenceView]; update: [PresenceView]; left: [string]; unwatched: [string] }> {
  readonly users: Map<string, PresenceView>
  /** `all`: the whole tenant; `interest`: own user, subscriptions and room members. */
  readonly mode: 'all' | 'interest' | null
  /** Watch these users (interest mode); resolves the number subscribed. Kept across reconnects. */
  subscribe(userIds: string[]): Promise<number>
  unsubscribe(userIds: string[]): Promise<number>
  list(): PresenceView[]
  get(userId: string): PresenceView | null
  setStatus(status: Status): Promise<void>
  setLocation(location: Partial<Location>): Promise<void>
  viewers(entityType: string, entityId: string): Promise<PresenceView[]>
  refresh(): Promise<void>
}

export class Notifications extends Emitter<{ notification: [Notification, { live: boolean }]; count: [number]; change: [Notification[]] }> {
  readonly unread: number | null
  readonly lastId: number
  readonly items: Map<number, Notification>
  list(): Notification[]
  markRead(id: number): Promise<void>
  markAllRead(): Promise<void>
  add(n: Notification, live: boolean): boolean
}

export interface Conflict { field: string; your_value: unknown; current_value: unknown; current_version: number; changed_by: string | null }

export class Room extends Emitter<{ change: [Room]; cursor: [CursorView]; broadcast: [ServerMessage]; field: [{ field: string | null; value?: unknown; user_id?: string; local?: boolean }]; conflict: [Conflict]; locks: [LockView[]]; 'lock:lost': [{ field: string | null; error: TandemError }]; rejoined: []; left: [] }> {
  readonly entityType: string
  readonly entityId: string
  readonly joined: boolean
  /** In a large room: the first page read at the join (joins and leaves are then only counted), until `loadMembers()`. */
  readonly members: Map<string, MemberView>
  /** Member users in the room, listed or not. */
  readonly memberCount: number
  /** True while `members` is a partial list of a large room, or a snapshot the server no longer keeps current. */
  readonly hasMoreMembers: boolean
  /** Reads the rest of a large room's members (`room:members`), page by page; all of them again after a `room:count`. */
  loadMembers(options?: { limit?: number }): Promise<Map<string, MemberView>>
  readonly cursors: Map<string, CursorView>
  readonly typing: TypingEntry[]
  readonly editors: EditorEntry[]
  readonly locks: LockView[]
  readonly values: Map<string, { value: unknown; version: number; updated_by: string | null }>
  readonly version: number
  leave(): Promise<void>
  moveCursor(position: unknown, selection?: unknown, field?: string): boolean
  startTyping(field?: string): boolean
  stopTyping(): boolean
  startEditing(field: string): boolean
  stopEditing(field: string): boolean
  broadcast(event: string, payload?: unknown): Promise<ServerMessage>
  sync(): Promise<ServerMessage>
  textField(name: string): Promise<TextField>
  value(field: string): unknown
  setField(field: string, value: unknown, options?: { version?: number }): Promise<{ ok: true } | { ok: false; conflict: Conflict }>
  lock(options?: { field?: string | null; mode?: 'soft' | 'hard'; ttlSecs?: number; reason?: string | null }): Promise<LockView>
  unlock(field?: string | null): Promise<void>
  lockedBy(field: string): LockView | null
}

export type TextFieldState = 'synchronized' | 'awaitingConfirm' | 'awaitingWithBuffer' | 'resyncing'
export interface TextChange { value: string; op: TextOperation | null; remote: boolean; user_id?: string; kind?: string }

export class TextField extends Emitter<{ change: [TextChange]; synchronized: []; error: [TandemError] }> {
  readonly room: Room
  readonly name: string
  readonly clientId: string
  readonly value: string
  readonly revision: number
  readonly state: TextFieldState
  apply(op: TextOperation | OpJSON): void
  setValue(value: string): void
  insert(index16: number, text: string): void
  delete(index16: number, length16: number): void
  toCodePoint(index16: number): number
  toUtf16(codePoint: number): number
  flush(): Promise<void>
  undo(): Promise<ServerMessage>
  redo(): Promise<ServerMessage>
}

export class TextOperation {
  constructor(ops?: OpJSON)
  ops: OpJSON
  baseLength: number
  targetLength: number
  static fromJSON(ops: OpJSON): TextOperation
  static transform(a: TextOperation, b: TextOperation): [TextOperation, TextOperation]
  toJSON(): OpJSON
  retain(n: number): this
  insert(s: string): this
  delete(n: number): this
  isNoop(): boolean
  apply(text: string): string
  invert(text: string): TextOperation
  compose(other: TextOperation): TextOperation
  transformIndex(index: number, stick?: boolean): number
}

export function diff(from: string, to: string): TextOperation
export function cpLength(s: string): number
export function utf16ToCp(s: string, index16: number): number
export function cpToUtf16(s: string, codePoint: number): number
export function backoffDelay(attempt: number, options?: { baseMs?: number; maxMs?: number; random?: () => number }): number
export function shouldReconnect(code: number, hasTokenFunction: boolean): boolean
export const NO_RECONNECT_CODES: Set<number>
export function roomKey(entityType: string, entityId: string): string
/** Binds a TextField to a textarea/input; returns an unbind function. */
export function bindTextarea(field: TextField, element: HTMLTextAreaElement | HTMLInputElement, options?: { cursors?: boolean }): () => void
