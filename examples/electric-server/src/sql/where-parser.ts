/**
 * The where-clause subset this example serves, parsed into a small AST (see the README's
 * "Where clauses"). Hand-written rather than a full SQL parser: the subset is a dozen tokens,
 * and a full Postgres grammar would accept far more than the evaluator can run, only to reject
 * it after parsing with a vaguer message.
 *
 *   expr      := or
 *   or        := and ( OR and )*
 *   and       := not ( AND not )*
 *   not       := NOT not | primary
 *   primary   := '(' expr ')' | predicate
 *   predicate := column op literal | literal op column
 *              | column IS [NOT] NULL | column [NOT] IN '(' literal (',' literal)* ')'
 *   op        := = | <> | != | < | <= | > | >=
 *   literal   := 'text' | [-]number | TRUE | FALSE | $n
 */

export type ComparisonOp = '=' | '<>' | '<' | '<=' | '>' | '>='

export type Literal =
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'number'; readonly text: string }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'param'; readonly index: number }

export type WhereAst =
  | { readonly kind: 'and' | 'or'; readonly left: WhereAst; readonly right: WhereAst }
  | { readonly kind: 'not'; readonly operand: WhereAst }
  | { readonly kind: 'compare'; readonly op: ComparisonOp; readonly column: string; readonly value: Literal }
  | { readonly kind: 'is-null'; readonly column: string; readonly negated: boolean }
  | { readonly kind: 'in'; readonly column: string; readonly values: readonly Literal[]; readonly negated: boolean }

/** A where clause outside the subset, or malformed; the message is meant for the HTTP client. */
export class WhereSyntaxError extends Error {
  override readonly name = 'WhereSyntaxError'
}

type Token =
  | { readonly kind: 'ident'; readonly text: string; readonly quoted: boolean }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'number'; readonly text: string }
  | { readonly kind: 'param'; readonly index: number }
  | { readonly kind: 'op'; readonly text: string }
  | { readonly kind: 'punct'; readonly text: '(' | ')' | ',' }

const KEYWORDS = new Set(['and', 'or', 'not', 'is', 'null', 'in', 'true', 'false'])
/**
 * A parameter `$n` (group 1), a number (group 2) or an unquoted identifier (group 3), tried in
 * that order. Sticky: matched at the tokenizer's position (lastIndex), the text not copied.
 */
const WORD = /\$(\d{1,4})|((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_$]*)/y
const OPERATORS = ['<>', '!=', '<=', '>=', '=', '<', '>'] as const

function tokenize(source: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < source.length) {
    const ch = source[i] as string
    if (/\s/.test(ch)) {
      i++
    } else if (ch === "'") {
      const [value, end] = readQuoted(source, i, "'", 'string literal')
      tokens.push({ kind: 'string', value })
      i = end
    } else if (ch === '"') {
      const [text, end] = readQuoted(source, i, '"', 'quoted identifier')
      if (text.length === 0) throw new WhereSyntaxError('zero-length quoted identifier')
      tokens.push({ kind: 'ident', text, quoted: true })
      i = end
    } else if (ch === '(' || ch === ')' || ch === ',') {
      tokens.push({ kind: 'punct', text: ch })
      i++
    } else {
      WORD.lastIndex = i
      const word = WORD.exec(source)
      if (word !== null) {
        tokens.push(wordToken(word))
        i += word[0].length
        continue
      }
      const op = OPERATORS.find((candidate) => source.startsWith(candidate, i))
      if (op === undefined && ch === '-') {
        tokens.push({ kind: 'op', text: '-' })
        i++
      } else if (op === undefined) {
        throw new WhereSyntaxError(`unexpected character ${JSON.stringify(ch)} at position ${i + 1}`)
      } else {
        tokens.push({ kind: 'op', text: op })
        i += op.length
      }
    }
  }
  return tokens
}

function wordToken([, param, number, ident]: RegExpExecArray): Token {
  if (param !== undefined) {
    const index = Number(param)
    if (index < 1) throw new WhereSyntaxError('parameters are numbered from $1')
    return { kind: 'param', index }
  }
  if (number !== undefined) return { kind: 'number', text: number }
  return { kind: 'ident', text: ident as string, quoted: false }
}

/** Reads a `'…'` or `"…"` token whose quote is escaped by doubling; returns its text and the index after it. */
function readQuoted(source: string, start: number, quote: string, what: string): [string, number] {
  let text = ''
  let i = start + 1
  for (;;) {
    const next = source.indexOf(quote, i)
    if (next === -1) throw new WhereSyntaxError(`unterminated ${what} at position ${start + 1}`)
    text += source.slice(i, next)
    if (source[next + 1] === quote) {
      text += quote
      i = next + 2
    } else {
      return [text, next + 1]
    }
  }
}

class Parser {
  readonly #tokens: Token[]
  #at = 0

  constructor(tokens: Token[]) {
    this.#tokens = tokens
  }

  parse(): WhereAst {
    const expr = this.#or()
    const extra = this.#tokens[this.#at]
    if (extra !== undefined) throw new WhereSyntaxError(`unexpected ${describe(extra)} after the end of the clause`)
    return expr
  }

  #or(): WhereAst {
    let left = this.#and()
    while (this.#keyword('or')) left = { kind: 'or', left, right: this.#and() }
    return left
  }

  #and(): WhereAst {
    let left = this.#not()
    while (this.#keyword('and')) left = { kind: 'and', left, right: this.#not() }
    return left
  }

  #not(): WhereAst {
    if (this.#keyword('not')) return { kind: 'not', operand: this.#not() }
    return this.#primary()
  }

  #primary(): WhereAst {
    if (this.#punct('(')) {
      const inner = this.#or()
      this.#expectPunct(')')
      return inner
    }
    const column = this.#column()
    if (column !== undefined) return this.#predicateOn(column)
    const literal = this.#literal()
    if (literal === undefined) throw new WhereSyntaxError(`expected a column or a literal, got ${this.#describeNext()}`)
    const op = this.#comparison()
    const right = this.#column()
    if (right === undefined) throw new WhereSyntaxError('a comparison needs a column on one side')
    return { kind: 'compare', op: flip(op), column: right, value: literal }
  }

  #predicateOn(column: string): WhereAst {
    if (this.#keyword('is')) {
      const negated = this.#keyword('not')
      if (!this.#keyword('null')) throw new WhereSyntaxError(`expected NULL after IS, got ${this.#describeNext()}`)
      return { kind: 'is-null', column, negated }
    }
    const negated = this.#keyword('not')
    if (negated || this.#peekKeyword('in')) {
      if (!this.#keyword('in')) throw new WhereSyntaxError(`expected IN after NOT, got ${this.#describeNext()}`)
      this.#expectPunct('(')
      const values: Literal[] = []
      do {
        const value = this.#literal()
        if (value === undefined) throw new WhereSyntaxError(`expected a literal in IN (…), got ${this.#describeNext()}`)
        values.push(value)
      } while (this.#punct(','))
      this.#expectPunct(')')
      return { kind: 'in', column, values, negated }
    }
    const op = this.#comparison()
    const value = this.#literal()
    if (value === undefined) {
      throw new WhereSyntaxError(`only column-to-literal comparisons are supported, got ${this.#describeNext()}`)
    }
    return { kind: 'compare', op, column, value }
  }

  #comparison(): ComparisonOp {
    const token = this.#tokens[this.#at]
    if (token?.kind !== 'op' || token.text === '-') {
      throw new WhereSyntaxError(`expected a comparison operator, got ${this.#describeNext()}`)
    }
    this.#at++
    return token.text === '!=' ? '<>' : (token.text as ComparisonOp)
  }

  #column(): string | undefined {
    const token = this.#tokens[this.#at]
    if (token?.kind !== 'ident') return undefined
    if (!token.quoted && KEYWORDS.has(token.text.toLowerCase())) return undefined
    this.#at++
    return token.quoted ? token.text : token.text.toLowerCase()
  }

  #literal(): Literal | undefined {
    const token = this.#tokens[this.#at]
    if (token === undefined) return undefined
    if (token.kind === 'string') {
      this.#at++
      return { kind: 'string', value: token.value }
    }
    if (token.kind === 'number') {
      this.#at++
      return { kind: 'number', text: token.text }
    }
    if (token.kind === 'param') {
      this.#at++
      return { kind: 'param', index: token.index }
    }
    if (token.kind === 'op' && token.text === '-') {
      const next = this.#tokens[this.#at + 1]
      if (next?.kind !== 'number') throw new WhereSyntaxError('a minus sign must be followed by a number')
      this.#at += 2
      return { kind: 'number', text: `-${next.text}` }
    }
    if (this.#keyword('true')) return { kind: 'bool', value: true }
    if (this.#keyword('false')) return { kind: 'bool', value: false }
    return undefined
  }

  #keyword(word: string): boolean {
    if (!this.#peekKeyword(word)) return false
    this.#at++
    return true
  }

  #peekKeyword(word: string): boolean {
    const token = this.#tokens[this.#at]
    return token?.kind === 'ident' && !token.quoted && token.text.toLowerCase() === word
  }

  #punct(text: '(' | ')' | ','): boolean {
    const token = this.#tokens[this.#at]
    if (token?.kind !== 'punct' || token.text !== text) return false
    this.#at++
    return true
  }

  #expectPunct(text: '(' | ')'): void {
    if (!this.#punct(text)) throw new WhereSyntaxError(`expected "${text}", got ${this.#describeNext()}`)
  }

  #describeNext(): string {
    const token = this.#tokens[this.#at]
    return token === undefined ? 'the end of the clause' : describe(token)
  }
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'ident':
      return token.quoted ? `identifier "${token.text}"` : `"${token.text}"`
    case 'string':
      return 'a string literal'
    case 'number':
      return `the number ${token.text}`
    case 'param':
      return `$${token.index}`
    default:
      return `"${token.text}"`
  }
}

/** `5 < x` is `x > 5`. */
function flip(op: ComparisonOp): ComparisonOp {
  switch (op) {
    case '<':
      return '>'
    case '<=':
      return '>='
    case '>':
      return '<'
    case '>=':
      return '<='
    default:
      return op
  }
}

/** Parses a where clause of the supported subset; WhereSyntaxError otherwise. */
export function parseWhere(source: string): WhereAst {
  const tokens = tokenize(source)
  if (tokens.length === 0) throw new WhereSyntaxError('the where clause is empty')
  return new Parser(tokens).parse()
}
