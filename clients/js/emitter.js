// A tiny event emitter shared by every Tandem client object.
export class Emitter {
  constructor() { this._handlers = new Map() }
  /** Subscribes; returns a function that unsubscribes. */
  on(event, fn) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set())
    this._handlers.get(event).add(fn)
    return () => this.off(event, fn)
  }
  off(event, fn) { this._handlers.get(event)?.delete(fn) }
  once(event, fn) {
    const off = this.on(event, (...args) => { off(); fn(...args) })
    return off
  }
  emit(event, ...args) {
    for (const fn of [...(this._handlers.get(event) ?? [])]) {
      try { fn(...args) } catch (e) { queueMicrotask(() => { throw e }) }
    }
  }
}
