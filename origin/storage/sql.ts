/** A LIKE pattern's literal text: `\`, `%` and `_` escaped for statements that declare `ESCAPE '\'`. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}
