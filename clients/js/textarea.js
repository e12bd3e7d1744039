import { utf16ToCp } from './ot.js'
// Binds a TextField to a <textarea> (or <input>): local typing becomes ops,
// remote ops update the element and keep the caret/selection in place, and
// the selection is published as this connection's cursor (code points).
export function bindTextarea(field, el, { cursors = true } = {}) {
  const room = field.room
  el.value = field.value
  const publishCursor = () => {
    if (!cursors) return
    const start = field.toCodePoint(el.selectionStart)
    const end = field.toCodePoint(el.selectionEnd)
    const head = el.selectionDirection === 'backward' ? start : end
    room.moveCursor(head, start === end ? null : { start, end }, field.name)
  }
  const onInput = () => {
    field.setValue(el.value)
    publishCursor()
  }
  const offChange = field.on('change', ({ value, op, remote }) => {
    if (!remote || el.value === value) return
    const hasFocus = globalThis.document?.activeElement === el
    let s = utf16ToCp(el.value, el.selectionStart)
    let e = utf16ToCp(el.value, el.selectionEnd)
    if (op) { s = op.transformIndex(s); e = op.transformIndex(e) }
    el.value = value
    if (hasFocus) el.setSelectionRange(field.toUtf16(s), field.toUtf16(e))
  })
  el.addEventListener('input', onInput)
  el.addEventListener('select', publishCursor)
  el.addEventListener('keyup', publishCursor)
  el.addEventListener('mouseup', publishCursor)
  el.addEventListener('focus', publishCursor)
  return () => {
    offChange()
    el.removeEventListener('input', onInput)
    el.removeEventListener('select', publishCursor)
    el.removeEventListener('keyup', publishCursor)
    el.removeEventListener('mouseup', publishCursor)
    el.removeEventListener('focus', publishCursor)
  }
}
