import { type ParseArgsConfig, parseArgs } from 'node:util'

/**
 * parseArgs for the repository's commands (verify, the bench, the crash loop, the soak), behaving
 * as a tool should: `--help` (or `-h`) prints
 * the usage and exits 0; an unknown or malformed flag prints what is wrong and the usage and
 * exits 2, without a stack trace.
 */
export function commandLine<T extends ParseArgsConfig>(usage: string, config: T): ReturnType<typeof parseArgs<T>> {
  const args = config.args ?? process.argv.slice(2)
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usage)
    process.exit(0)
  }
  try {
    return parseArgs(config)
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`)
    process.exit(2)
  }
}
