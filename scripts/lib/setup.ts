import * as path from "node:path";
import type { LabSetup } from "./lab-hooks";
import { type Lab, labsDir } from "./labs";

/**
 * Runs the lab's own set-up module, if lab.json names one (`"setup": "setup.ts"`),
 * after its stubs are generated; resolves with what it did, to print, or nothing.
 */
export async function runLabSetup(lab: Lab): Promise<string | void> {
  if (!lab.setup) return;
  const module = require(path.join(labsDir, lab.id, lab.setup)) as LabSetup;
  return module.setup();
}
