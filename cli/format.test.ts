import { expect, test } from 'vitest'
import { bytes, percent, table } from './format.ts'

test('a table aligns columns, numbers to the right, empty cells as -', () => {
  expect(table(['NAME', 'COUNT', 'NOTE'], [['eu', 5, 'x'], ['us-east', 120, null]])).toBe(
    ['NAME     COUNT  NOTE', 'eu           5  x', 'us-east    120  -', ''].join('\n'),
  )
})

test('bytes and percentages for people', () => {
  expect(bytes(512)).toBe('512 B')
  expect(bytes(1536)).toBe('1.5 KiB')
  expect(bytes(50 * 2 ** 30)).toBe('50 GiB')
  expect(bytes(-2048)).toBe('-2.0 KiB')
  expect(bytes(null)).toBe('-')
  expect(percent(2 / 3)).toBe('66.7%')
  expect(percent(null)).toBe('-')
})
