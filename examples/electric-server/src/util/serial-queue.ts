/**
 * Runs async tasks one at a time, in call order. The example's writes, shape creations and
 * removals go through one queue: a snapshot then sees a table no transaction is half-way
 * through, and a fanout never targets a shape being removed.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve()

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task)
    this.#tail = result.catch(() => {})
    return result
  }
}
