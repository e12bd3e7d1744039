import perfHooks from 'perf_hooks'
import crypto from 'crypto'

export const performance = perfHooks.performance
export const cryptoRandomBuffer = len => crypto.randomBytes(len).buffer
