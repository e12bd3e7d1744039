// Reconnect delays: exponential backoff with full jitter and a cap
// (delay = random(0, min(cap, base * 2^attempt))).
export function backoffDelay(attempt, { baseMs = 500, maxMs = 15000, random = Math.random } = {}) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30))
  return Math.floor(random() * ceiling)
}

/** Close codes after which the client does not reconnect by itself. */
export const NO_RECONNECT_CODES = new Set([4003, 1008])

/**
 * Whether to reconnect after a close: never after 4003 (disconnected by an
 * admin, whose revocation would refuse the reconnect anyway) or 1008 (refused
 * for policy), nor after 4001 (token expired) unless a token function can give a
 * fresh token; always otherwise.
 */
export function shouldReconnect(code, hasTokenFunction) {
  if (NO_RECONNECT_CODES.has(code)) return false
  if (code === 4001) return hasTokenFunction
  return true
}
