import { expect, test } from 'vitest'
import { csvField, toCsv } from './csv.ts'

test('plain values are written as they are', () => {
  expect(csvField('library/alpine')).toBe('library/alpine')
  expect(csvField(42)).toBe('42')
  expect(csvField(0.5)).toBe('0.5')
})

test('null and undefined are empty fields', () => {
  expect(csvField(null)).toBe('')
  expect(csvField(undefined)).toBe('')
})

test('commas, quotes, line breaks and edge spaces are quoted, quotes doubled', () => {
  expect(csvField('a,b')).toBe('"a,b"')
  expect(csvField('say "hi"')).toBe('"say ""hi"""')
  expect(csvField('two\nlines')).toBe('"two\nlines"')
  expect(csvField('cr\rhere')).toBe('"cr\rhere"')
  expect(csvField(' padded')).toBe('" padded"')
})

test('a table is a header line and one CRLF-terminated line per row', () => {
  const csv = toCsv(['site', 'repository', 'hitRatio'], [
    { site: 'eu', repository: 'a,b', hitRatio: null },
    { site: 'us', repository: 'c', hitRatio: 1 },
  ])
  expect(csv).toBe('site,repository,hitRatio\r\neu,"a,b",\r\nus,c,1\r\n')
})
