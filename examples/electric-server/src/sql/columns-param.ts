/**
 * The `columns` query parameter: comma-separated identifiers, as the client sends them
 * (`"id","title"`), quoted ones with `""` escapes kept as written, unquoted ones folded to
 * lower case (Postgres rules, like Electric's parse_columns_param).
 */
export class ColumnsParamError extends Error {
  override readonly name = 'ColumnsParamError'
}

export function parseColumnsParam(text: string): string[] {
  const columns: string[] = []
  let i = 0
  for (;;) {
    while (text[i] === ' ') i++
    let name: string
    if (text[i] === '"') {
      name = ''
      i++
      for (;;) {
        const close = text.indexOf('"', i)
        if (close === -1) throw new ColumnsParamError('Invalid unterminated quoted identifier')
        name += text.slice(i, close)
        if (text[close + 1] === '"') {
          name += '"'
          i = close + 2
        } else {
          i = close + 1
          break
        }
      }
    } else {
      const end = text.indexOf(',', i)
      name = (end === -1 ? text.slice(i) : text.slice(i, end)).trim()
      if (name.includes('"')) throw new ColumnsParamError(`Invalid unquoted identifier contains double quote: ${name}`)
      name = name.toLowerCase()
      i = end === -1 ? text.length : end
    }
    if (name.length === 0) throw new ColumnsParamError('Invalid zero-length delimited identifier')
    columns.push(name)
    while (text[i] === ' ') i++
    if (i >= text.length) return columns
    if (text[i] !== ',') throw new ColumnsParamError(`Invalid character after identifier "${name}"`)
    i++
  }
}
