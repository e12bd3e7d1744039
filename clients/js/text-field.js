// Binding of one collaborative text field: the ot.js client states
// (synchronized / awaiting confirm / awaiting with buffer), transform of
// incoming `doc:op`s, UTF-16 ↔ code point conversion, resend of the in-flight
// op with the same client_id + seq after a reconnect, and resync after
// `resync_required`. Events: `change` ({value, op, remote, user_id}),
// `synchronized`, `error`.
import { Emitter } from './emitter.js'
import { TextOperation, diff, cpToUtf16, utf16ToCp } from './ot.js'

let clientCounter = 0
function newClientId() {
  const rnd = globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`
  return `js-${rnd}-${clientCounter++}`
}

export class TextField extends Emitter {
  constructor(room, name) {
    super()
    this.room = room
    this.name = name
    this.clientId = newClientId()
    /** Local text (what the user sees), a JS string. */
    this.value = ''
    /** Server text at `revision`. */
    this.confirmed = ''
    this.revision = 0
    this.inflight = null // { op: TextOperation, seq }
    this.buffer = null // TextOperation
    this.recovering = false
    this._applied = null // after a resend: did the server apply the in-flight op?
    this._seq = 0
    this._undo = []
  }

  /** `synchronized`, `awaitingConfirm`, `awaitingWithBuffer` or `resyncing`. */
  get state() {
    if (this.recovering) return 'resyncing'
    if (!this.inflight) return 'synchronized'
    return this.buffer ? 'awaitingWithBuffer' : 'awaitingConfirm'
  }

  /** Applies a local op (code point positions, ot.js JSON or TextOperation). */
  apply(op) {
    op = op instanceof TextOperation ? op : TextOperation.fromJSON(op)
    if (op.isNoop()) return
    this.value = op.apply(this.value)
    if (this.inflight || this.recovering) this.buffer = this.buffer ? this.buffer.compose(op) : op
    else this._send(op)
    this.emit('change', { value: this.value, op, remote: false })
  }

  /** Replaces the text with `newValue` (the smallest single change is sent). */
  setValue(newValue) { this.apply(diff(this.value, newValue)) }

  /** Inserts at a UTF-16 index (e.g. a textarea's selectionStart). */
  insert(index16, text) {
    const at = utf16ToCp(this.value, index16)
    const len = [...this.value].length
    this.apply(new TextOperation().retain(at).insert(text).retain(len - at))
  }

  /** Deletes `length16` UTF-16 units at a UTF-16 index. */
  delete(index16, length16) {
    const from = utf16ToCp(this.value, index16)
    const to = utf16ToCp(this.value, index16 + length16)
    const len = [...this.value].length
    this.apply(new TextOperation().retain(from).delete(to - from).retain(len - to))
  }

  /** Code point index of a UTF-16 index in the current value, and back. */
  toCodePoint(index16) { return utf16ToCp(this.value, index16) }
  toUtf16(cp) { return cpToUtf16(this.value, cp) }

  /** Resolves once every local change is acknowledged. */
  flush() {
    if (this.state === 'synchronized') return Promise.resolve()
    return new Promise((resolve) => { const off = this.on('synchronized', () => { off(); resolve() }) })
  }

  /** Undoes this user's latest edit (server side: doc:undo), after flushing. */
  async undo() { await this.flush(); return this.room.client.request('doc:undo', { ...this.room._addr, field: this.name }) }
  async redo() { await this.flush(); return this.room.client.request('doc:redo', { ...this.room._addr, field: this.name }) }

  // ---- internals ---------------------------------------------------------

  _init(text, revision) {
    this.value = text
    this.confirmed = text
    this.revision = revision
    this.emit('change', { value: this.value, op: null, remote: true })
  }

  _send(op) {
    this.inflight = { op, seq: ++this._seq }
    this._sendInflight()
  }

  _sendInflight(onReply) {
    const { op, seq } = this.inflight
    const client = this.room.client
    client._requestSync('doc:edit', {
      ...this.room._addr, field: this.name, revision: this.revision, op: op.toJSON(), client_id: this.clientId, seq,
    }, (ack, err) => {
      if (onReply) return onReply(ack, err)
      if (ack) return this._ack(ack.data.revision)
      if (err.code === 'connection_lost' || err.code === 'closed') return // the reconnect resends it
      if (err.code === 'timeout') return this.room.client._dropDeadLink() // reconnect, then resend
      this._fail(err)
    })
  }

  _ack(revision) {
    if (!this.inflight || this.recovering) return
    this.confirmed = this.inflight.op.apply(this.confirmed)
    this.revision = revision
    this.inflight = null
    if (this.buffer) { const b = this.buffer; this.buffer = null; this._send(b) }
    else this.emit('synchronized')
  }

  /** The in-flight edit was refused: resync (and drop it unless the server just needs a newer base). */
  _fail(err) {
    if (err.code === 'resync_required') this._applied = false
    else {
      // invalid_op, locked, ...: the change cannot be applied; the local text goes back to the server's.
      this.emit('error', err)
      this._applied = 'discard'
    }
    this.recovering = true
    this.room._resyncField()
  }

  _remote(msg) {
    if (this._needsInit || this.recovering || msg.revision <= this.revision) return
    let op = TextOperation.fromJSON(msg.op)
    this.confirmed = op.apply(this.confirmed)
    this.revision = msg.revision
    if (this.inflight) { const [a, b] = TextOperation.transform(op, this.inflight.op); op = a; this.inflight.op = b }
    if (this.buffer) { const [a, b] = TextOperation.transform(op, this.buffer); op = a; this.buffer = b }
    this.value = op.apply(this.value)
    this.emit('change', { value: this.value, op, remote: true, user_id: msg.user_id, kind: msg.kind })
  }

  _disconnected() {
    // Ops sent while we were away are missed: the rejoin reloads the text.
    this.recovering = true
  }

  /** After a reconnect: resend the in-flight op with its client_id + seq to learn whether it was applied. */
  async _resend() {
    if (!this.inflight) { this._applied = null; this.recovering = true; return }
    this.recovering = true
    await new Promise((resolve) => this._sendInflight((ack, err) => {
      if (ack) this._applied = true
      else if (err.code === 'resync_required') this._applied = false
      else if (err.code === 'connection_lost' || err.code === 'timeout') this._applied = undefined
      else { this.emit('error', err); this._applied = 'discard' }
      resolve()
    }))
    if (this._applied === undefined) throw new Error('connection lost during resend')
  }

  /**
   * Takes the server's text (after a reconnect or resync) and keeps the local
   * changes the server does not have, transformed onto it; sends them.
   */
  _rebase(text, revision) {
    let base, outstanding
    if (this._applied === 'discard') { base = this.value; outstanding = null }
    else if (this.inflight && this._applied === true) { base = this.inflight.op.apply(this.confirmed); outstanding = this.buffer }
    else if (this.inflight) { base = this.confirmed; outstanding = this.buffer ? this.inflight.op.compose(this.buffer) : this.inflight.op }
    else { base = this.confirmed; outstanding = this.buffer }
    let toServer = diff(base, text)
    let mine = outstanding
    if (mine) [toServer, mine] = TextOperation.transform(toServer, mine)
    const newValue = mine ? mine.apply(text) : text
    const uiOp = diff(this.value, newValue)
    this.confirmed = text
    this.revision = revision
    this.inflight = null
    this.buffer = null
    this.recovering = false
    this._applied = null
    this.value = newValue
    if (!uiOp.isNoop()) this.emit('change', { value: this.value, op: uiOp, remote: true })
    if (mine && !mine.isNoop()) this._send(mine)
    else this.emit('synchronized')
  }
}
