// Unit tests of the client's OT and UTF-16 helpers (no server).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TextOperation, diff, cpLength, utf16ToCp, cpToUtf16, backoffDelay, shouldReconnect } from '../../../clients/js/index.js'

const ALPHABET = ['a', 'b', 'c', ' ', '🌍', '👍🏽', 'é', '\n']
function rand(n) { return Math.floor(Math.random() * n) }
function randText(n) { let s = ''; for (let i = 0; i < n; i++) s += ALPHABET[rand(ALPHABET.length)]; return s }
function randOp(text) {
  const len = cpLength(text)
  const op = new TextOperation()
  let left = len
  while (left > 0) {
    const n = 1 + rand(Math.min(left, 4))
    const r = rand(3)
    if (r === 0) op.retain(n)
    else if (r === 1) op.delete(n)
    else { op.insert(randText(1 + rand(3))); op.retain(n) }
    left -= n
  }
  if (rand(2)) op.insert(randText(2))
  return op
}

test('code point helpers count emoji as one', () => {
  const s = 'a🌍b'
  assert.equal(cpLength(s), 3)
  assert.equal(utf16ToCp(s, 3), 2)
  assert.equal(cpToUtf16(s, 2), 3)
  assert.equal(new TextOperation([1, '👍', -1, 1]).apply(s), 'a👍b')
})

test('transform converges on random concurrent ops (with emoji)', () => {
  for (let i = 0; i < 500; i++) {
    const text = randText(rand(12))
    const a = randOp(text), b = randOp(text)
    const [a2, b2] = TextOperation.transform(a, b)
    assert.equal(b2.apply(a.apply(text)), a2.apply(b.apply(text)))
  }
})

test('compose and invert agree with sequential apply', () => {
  for (let i = 0; i < 300; i++) {
    const text = randText(rand(12))
    const a = randOp(text)
    const mid = a.apply(text)
    const b = randOp(mid)
    assert.equal(a.compose(b).apply(text), b.apply(mid))
    assert.equal(a.invert(text).apply(mid), text)
    assert.equal(diff(text, mid).apply(text), mid)
  }
})

test('backoff has full jitter under a cap; policy closes do not reconnect', () => {
  assert.equal(backoffDelay(0, { baseMs: 100, maxMs: 1000, random: () => 0.999 }), 99)
  assert.equal(backoffDelay(20, { baseMs: 100, maxMs: 1000, random: () => 0.999 }), 999)
  assert.equal(backoffDelay(5, { baseMs: 100, maxMs: 1000, random: () => 0 }), 0)
  assert.equal(shouldReconnect(4003, true), false)
  assert.equal(shouldReconnect(1008, true), false)
  assert.equal(shouldReconnect(4001, false), false)
  assert.equal(shouldReconnect(4001, true), true)
  assert.equal(shouldReconnect(1012, false), true)
  assert.equal(shouldReconnect(1006, false), true)
})
