// Plain text operational transformation in the ot.js JSON form that Tandem
// speaks: an op is an array of components, a positive integer retains that
// many characters, a string inserts it, a negative integer deletes that many.
// Lengths count Unicode code points (as the server does), not UTF-16 units.

/** Number of code points in a string. */
export function cpLength(s) {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) i++
    }
    n++
  }
  return n
}

/** Code point index of a UTF-16 index (an index inside a pair counts as after it). */
export function utf16ToCp(s, index) {
  return cpLength(s.slice(0, index))
}

/** UTF-16 index of a code point index. */
export function cpToUtf16(s, cp) {
  let i = 0
  for (let n = 0; n < cp && i < s.length; n++) {
    const c = s.charCodeAt(i)
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1
  }
  return i
}

export class TextOperation {
  constructor(ops = []) {
    this.ops = []
    this.baseLength = 0
    this.targetLength = 0
    for (const c of ops) {
      if (typeof c === 'string') this.insert(c)
      else if (Number.isInteger(c) && c > 0) this.retain(c)
      else if (Number.isInteger(c) && c < 0) this.delete(-c)
      else throw new Error(`invalid op component ${JSON.stringify(c)}`)
    }
  }

  static fromJSON(ops) { return new TextOperation(ops) }
  toJSON() { return this.ops.slice() }

  retain(n) {
    if (n <= 0) return this
    this.baseLength += n; this.targetLength += n
    const last = this.ops.length - 1
    if (last >= 0 && isRetain(this.ops[last])) this.ops[last] += n
    else this.ops.push(n)
    return this
  }

  insert(s) {
    if (s === '') return this
    this.targetLength += cpLength(s)
    const ops = this.ops, last = ops.length - 1
    if (last >= 0 && isInsert(ops[last])) ops[last] += s
    else if (last >= 0 && isDelete(ops[last])) {
      // Keep inserts before deletes (canonical form).
      if (last > 0 && isInsert(ops[last - 1])) ops[last - 1] += s
      else { ops[last + 1] = ops[last]; ops[last] = s }
    } else ops.push(s)
    return this
  }

  delete(n) {
    if (n <= 0) return this
    this.baseLength += n
    const last = this.ops.length - 1
    if (last >= 0 && isDelete(this.ops[last])) this.ops[last] -= n
    else this.ops.push(-n)
    return this
  }

  isNoop() { return this.ops.length === 0 || (this.ops.length === 1 && isRetain(this.ops[0])) }

  /** Applies the op to a string. */
  apply(text) {
    const cps = Array.from(text)
    if (cps.length !== this.baseLength) {
      throw new Error(`op base length ${this.baseLength} != text length ${cps.length}`)
    }
    const out = []
    let i = 0
    for (const c of this.ops) {
      if (isRetain(c)) { for (let k = 0; k < c; k++) out.push(cps[i++]) }
      else if (isInsert(c)) out.push(c)
      else i -= c
    }
    return out.join('')
  }

  /** The op that undoes this one on `text` (the text it applies to). */
  invert(text) {
    const cps = Array.from(text)
    const inv = new TextOperation()
    let i = 0
    for (const c of this.ops) {
      if (isRetain(c)) { inv.retain(c); i += c }
      else if (isInsert(c)) inv.delete(cpLength(c))
      else { inv.insert(cps.slice(i, i - c).join('')); i -= c }
    }
    return inv
  }

  /** `this` then `other`, as one op. */
  compose(other) {
    if (this.targetLength !== other.baseLength) throw new Error('compose: length mismatch')
    const out = new TextOperation()
    const a = this.ops.slice(), b = other.ops.slice()
    let i = 0, j = 0
    let x = a[i++], y = b[j++]
    for (;;) {
      if (x === undefined && y === undefined) break
      if (isDelete(x)) { out.delete(-x); x = a[i++]; continue }
      if (isInsert(y)) { out.insert(y); y = b[j++]; continue }
      if (x === undefined || y === undefined) throw new Error('compose: ops do not fit')
      if (isRetain(x) && isRetain(y)) {
        const n = Math.min(x, y); out.retain(n)
        ;[x, y] = rest(x, n, a, () => i++, y, b, () => j++)
      } else if (isInsert(x) && isDelete(y)) {
        const xl = cpLength(x), n = Math.min(xl, -y)
        x = xl > n ? cpSlice(x, n) : a[i++]
        y = -y > n ? y + n : b[j++]
      } else if (isInsert(x) && isRetain(y)) {
        const xl = cpLength(x), n = Math.min(xl, y)
        out.insert(cpSlice(x, 0, n))
        x = xl > n ? cpSlice(x, n) : a[i++]
        y = y > n ? y - n : b[j++]
      } else { // retain x, delete y
        const n = Math.min(x, -y); out.delete(n)
        x = x > n ? x - n : a[i++]
        y = -y > n ? y + n : b[j++]
      }
    }
    return out
  }

  /**
   * transform(a, b) for concurrent ops on the same text: returns [a', b'] with
   * b'∘a == a'∘b. `a`'s inserts go first on ties (pass the server's op as `a`).
   */
  static transform(a, b) {
    if (a.baseLength !== b.baseLength) throw new Error('transform: base length mismatch')
    const ap = new TextOperation(), bp = new TextOperation()
    const A = a.ops, B = b.ops
    let i = 0, j = 0, x = A[i++], y = B[j++]
    for (;;) {
      if (x === undefined && y === undefined) break
      if (isInsert(x)) { ap.insert(x); bp.retain(cpLength(x)); x = A[i++]; continue }
      if (isInsert(y)) { ap.retain(cpLength(y)); bp.insert(y); y = B[j++]; continue }
      if (x === undefined || y === undefined) throw new Error('transform: ops do not fit')
      let n
      if (isRetain(x) && isRetain(y)) {
        n = Math.min(x, y); ap.retain(n); bp.retain(n)
        x = x > n ? x - n : A[i++]; y = y > n ? y - n : B[j++]
      } else if (isDelete(x) && isDelete(y)) {
        n = Math.min(-x, -y)
        x = -x > n ? x + n : A[i++]; y = -y > n ? y + n : B[j++]
      } else if (isDelete(x) && isRetain(y)) {
        n = Math.min(-x, y); ap.delete(n)
        x = -x > n ? x + n : A[i++]; y = y > n ? y - n : B[j++]
      } else { // retain x, delete y
        n = Math.min(x, -y); bp.delete(n)
        x = x > n ? x - n : A[i++]; y = -y > n ? y + n : B[j++]
      }
    }
    return [ap, bp]
  }

  /** Where a code point position ends up after this op (inserts at it push it right unless `stick`). */
  transformIndex(index, stick = false) {
    let pos = 0, out = index
    for (const c of this.ops) {
      if (pos > index) break
      if (isRetain(c)) pos += c
      else if (isInsert(c)) {
        if (pos < index || (pos === index && !stick)) out += cpLength(c)
      } else {
        out -= Math.min(-c, index - pos)
        pos -= c
      }
    }
    return out
  }
}

/** The op turning `from` into `to` (common prefix and suffix kept). */
export function diff(from, to) {
  const a = Array.from(from), b = Array.from(to)
  let p = 0
  while (p < a.length && p < b.length && a[p] === b[p]) p++
  let s = 0
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++
  return new TextOperation()
    .retain(p)
    .delete(a.length - p - s)
    .insert(b.slice(p, b.length - s).join(''))
    .retain(s)
}

function isRetain(c) { return typeof c === 'number' && c > 0 }
function isInsert(c) { return typeof c === 'string' }
function isDelete(c) { return typeof c === 'number' && c < 0 }
function cpSlice(s, start, end) { return Array.from(s).slice(start, end).join('') }
function rest(x, n, a, ni, y, b, nj) {
  return [x > n ? x - n : a[ni()], y > n ? y - n : b[nj()]]
}
