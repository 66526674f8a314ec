/** The error `fn` throws; fails the test when it returns (`what` names the expected thrower). */
export function thrown(fn: () => unknown, what = "it"): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error(`expected ${what} to throw`);
}
