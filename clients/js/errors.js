// The error a request rejects with: `code` is the server's error code, or one
// of the client's own: `timeout`, `connection_lost`, `offline`, `queue_full`,
// `closed`.
export class TandemError extends Error {
  constructor(code, message, reply = null) {
    super(message || code)
    this.name = 'TandemError'
    this.code = code
    this.reply = reply
  }
}
