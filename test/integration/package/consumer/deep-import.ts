/** The package's `exports` keep its files private: tsc refuses a deep import (nodenext). */
// @ts-expect-error -- kube-upkeep/dist-lib/... is not an export of the package
import { shq } from "kube-upkeep/dist-lib/core/scripts/shell";

export const quoted: unknown = shq;
